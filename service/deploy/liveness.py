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
reads happen after a timed-out call, in a thread, and any failure leaves the timeout a timeout.
Timed-out calls of one stage within FRESH_S share one read: serve.status() costs the router
~0.1-0.25 s of CPU (it cloudpickles the request router's class), and under overload many calls
time out together; read per call, it took 7.5 of the router's 19.8 CPU s in a 20 s profile at
c=32 (python -m loadtests.profile --placement replica --heads 4 --concurrency 32).
"""
from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("wiyh.service")

FRESH_S = 1.0  # a read this recent answers for the stage (a kill is seen by the GCS at once)
_READS: dict[tuple[str, str], tuple[float, bool]] = {}
_ONE_READ_AT_A_TIME = threading.Lock()


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
    """True when fewer replica processes of `deployment` are alive than Serve counts RUNNING
    (the answer of a read of the last FRESH_S seconds, when there is one)."""
    import ray

    if not ray.is_initialized():  # never start a cluster just to ask
        return False
    with _ONE_READ_AT_A_TIME:  # calls that waited here reuse the read the first one made
        read = _READS.get((app, deployment))
        if read is not None and time.monotonic() - read[0] < FRESH_S:
            return read[1]
        lost = _read_lost(app, deployment)
        _READS[(app, deployment)] = (time.monotonic(), lost)
        return lost


def _read_lost(app: str, deployment: str) -> bool:
    from ray import serve

    try:
        status = serve.status().applications[app].deployments[deployment]
        running = status.replica_states.get("RUNNING", 0)
        return len(alive_replica_actors(app, deployment)) < running
    except Exception as err:  # unknown: the timeout stands as a timeout
        log.warning("replica liveness unavailable (%s)", type(err).__name__)
        return False
