"""Whether a stage lost a replica that Serve has not noticed yet: asked only after a call timed out.

The measured case that Serve alone gets wrong (docs/results.md, "A killed replica"): SIGKILL the
only replica of a head and call it. Serve's handle probes the dead replica, drops it, and holds
the call until the controller starts a new one, which it does only after its next health check
finds the old one dead (health_check_period_s later, plus the start): the call raises nothing and
times out, and the client got a 504 "timeout", as if the head were slow, instead of a 503
"unavailable" with Retry-After. The controller (serve.status()) still counts the dead replica
RUNNING in that window; the GCS knows at once that its process died. Fewer ALIVE replica actors
than RUNNING replicas therefore means "lost, being replaced".

The GCS actor table is read through Ray's private `ray._private.state` (the public
`ray.util.state.list_actors` needs the dashboard, which the test clusters do not run);
tests/unit/loadtests/test_private_ray_api.py fails when that API changes. Nothing polls: both
reads happen once per timed-out call, in a thread, and any failure leaves the timeout a timeout.
"""
from __future__ import annotations

import logging

log = logging.getLogger("wiyh.service")


def alive_replica_actors(app: str, deployment: str | None = None) -> list[dict]:
    """The GCS entries of the ALIVE replica actors of `app` (of one deployment when named). Serve
    names a replica's actor class `ServeReplica:<app>:<deployment>`."""
    from ray._private import state

    found = []
    for actor in state.actors(actor_state_name="ALIVE").values():
        prefix, _, rest = actor["ActorClassName"].partition(":")
        actor_app, _, name = rest.partition(":")
        if prefix == "ServeReplica" and actor_app == app and (deployment is None or name == deployment):
            found.append(actor)
    return found


def lost_unnoticed(app: str, deployment: str) -> bool:
    """True when fewer replica processes of `deployment` are alive than Serve counts RUNNING."""
    import ray
    from ray import serve

    if not ray.is_initialized():  # never start a cluster just to ask
        return False
    try:
        status = serve.status().applications[app].deployments[deployment]
        running = status.replica_states.get("RUNNING", 0)
        return len(alive_replica_actors(app, deployment)) < running
    except Exception as err:  # unknown: the timeout stands as a timeout
        log.warning("replica liveness unavailable (%s)", type(err).__name__)
        return False
