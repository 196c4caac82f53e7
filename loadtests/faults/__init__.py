"""Fault runs: the real Serve application on a private local Ray cluster, under an open-loop load,
loses a head replica, a backbone replica or a whole worker node mid-run.

    python -m loadtests.faults --fault head|backbone|node

Each run prints and writes (reports/fault_<fault>.json) the requests sent, answered,
errored by status code, lost (no HTTP response; must be 0) and the time to full recovery.

    cluster.py    the private cluster and the app        load.py       open-loop load, tally
    scenarios.py  layout per fault, what gets killed     replicas.py   replica actors, SIGKILL
    recovery.py   when the service is whole again        report.py     table and JSON
    run.py        one run, start to finish
"""
