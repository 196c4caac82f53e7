"""Load tests and benchmarks of the serving path (docs/service.md: Speed; Load tests; Faults).

    scripts     bench (+ cells, engines, results, report), serve_cost (bench's cells on Serve's
                processes), process_profile, autoscale (+ locustfile, ramp, stages), faults, soak
                and lost_inputs (all three on runs)
    shared      loop (closed and open loops, Outcome), calls (HTTP), checks (what an answer must
                hold), stats (latency, tallies), processes (CPU and memory from outside), serving
                (the private local cluster and its replicas), apps (the applications' args),
                inputs, checkpoints, outputs
The pure parts are unit-tested in tests/unit/loadtests.
"""
