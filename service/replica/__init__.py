"""What runs inside a backbone or head replica, without Ray: load the model once and run whole
batches (runners.py) in one compute thread (compute.py), hidden states packed for the object
store (payload.py), the self-test Serve's health check calls (health.py)."""
