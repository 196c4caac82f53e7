"""Load tests and benchmarks of the serving path (docs/service.md: Speed; Load tests; Faults).

    scripts     bench (+ cells, engines, host, results, report, inprocess_run, bytes_moved),
                autoscale (+ locustfile, ramp, stages), faults/, soak, lost_inputs, serve_cost,
                process_profile
    shared      loop (closed and open loops, Outcome), calls (HTTP), tally and stats (counting),
                processes (CPU and memory from outside), serving (the private local cluster),
                apps (the applications' args), replicas, inputs, checks, checkpoints, outputs
The pure parts are unit-tested in tests/unit/loadtests.
"""
