"""Load tests and benchmarks of the serving path.

    locustfile.py   locust users (single, batch, burst) that check every response
    bench.py        `python -m loadtests.bench`: in-process vs Serve (heads as replicas / colocated)
                    vs one full model per task, cost against the number of heads
    autoscale.py    `python -m loadtests.autoscale`: a locust ramp past one replica, replica counts
                    from serve.status() over time
The pure parts (inputs, checks, stats, report) are unit-tested in tests/unit/loadtests.
"""
