"""Load tests and benchmarks of the serving path (docs/service.md: Speed; Load tests; Faults).

    scripts     bench (+ cells, engines, report), serve_cost, process_profile, autoscale (+ locustfile,
                ramp), faults, soak and lost_inputs (all three on runs)
    shared      traffic (requests, loops, HTTP calls, what an answer must hold), results (what was
                measured: percentiles, tallies, the benchmark's models), report (tables, plots,
                JSON), processes (CPU and memory from outside), serving (the private local cluster,
                the applications and checkpoints it serves)
"""
