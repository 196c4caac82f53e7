"""Fault runs: the real Serve application on a private local Ray cluster, under an open-loop load,
loses a head replica, a backbone replica or a whole worker node mid-run (scenarios.py); run.py
drives one run and writes reports/fault_<fault>.json: `python -m loadtests.faults --fault head`."""
