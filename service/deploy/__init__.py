"""The Ray Serve layer: the application built from a checkpoint and the config's `args:` (app.py,
settings.py), the three deployments (deployments.py), the Engine over their handles
(ray_engine.py) and the Prometheus metrics of each replica (metrics.py). Ray code orchestrates
only; the model work is in service/replica/."""
