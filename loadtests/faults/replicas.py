"""Which processes serve a deployment, and whether the application is whole again.

Replica actors are found in the GCS actor table (`alive_replica_actors`): unlike
`ray.util.state.list_actors`, that needs no dashboard process, which these clusters (and the
integration tests') do not run. It reads Ray's private `ray._private.state.actors`; the service
itself never does. tests/unit/loadtests/test_private_ray_api.py fails when that API changes, and
the fault integration test fails when what it returns does.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass



@dataclass(frozen=True)
class Replica:
    deployment: str
    actor_id: str
    pid: int
    node_id: str


def alive_replica_actors(app: str, deployment: str | None = None) -> list[dict]:
    """The GCS entries of the ALIVE replica actors of `app` (of one deployment when named). The GCS
    learns of a killed process within moments, while the controller (serve.status()) reports the
    replica RUNNING until its next health check. Serve names a replica's actor class
    `ServeReplica:<app>:<deployment>`."""
    from ray._private import state

    found = []
    for actor in state.actors(actor_state_name="ALIVE").values():
        prefix, _, rest = actor["ActorClassName"].partition(":")
        actor_app, _, name = rest.partition(":")
        if prefix == "ServeReplica" and actor_app == app and (deployment is None or name == deployment):
            found.append(actor)
    return found


def alive_replicas(app: str, deployment: str | None = None) -> list[Replica]:
    """The ALIVE replica actors of `app` (of one deployment when named)."""
    found = [Replica(actor["ActorClassName"].rsplit(":", 1)[1], actor["ActorID"], int(actor["Pid"]),
                     actor["Address"]["NodeID"]) for actor in alive_replica_actors(app, deployment)]
    return sorted(found, key=lambda r: (r.deployment, r.actor_id))


def sigkill(replica: Replica) -> None:
    """What an OOM kill or a segfault does: no cleanup, no goodbye to the controller."""
    os.kill(replica.pid, signal.SIGKILL)


def running_counts(app: str) -> dict[str, int]:
    """Deployment -> replicas RUNNING now (taken while healthy: what "whole again" means)."""
    from ray import serve

    status = serve.status().applications[app]
    return {name: d.replica_states.get("RUNNING", 0) for name, d in status.deployments.items()}


def serve_whole(app: str, expected: dict[str, int], dead: set[str]) -> bool:
    """Every deployment HEALTHY with all its replicas RUNNING, as many ALIVE replica actors as
    expected, and none of the killed ones among them.

    serve.status() alone is not enough: right after a kill it still reports the dead replica as
    RUNNING until the controller's next health check finds out."""
    from ray import serve

    status = serve.status().applications[app]
    for name, want in expected.items():
        d = status.deployments.get(name)
        if d is None or d.status != "HEALTHY" or d.replica_states.get("RUNNING", 0) != want:
            return False
    alive = alive_replicas(app)
    if any(r.actor_id in dead for r in alive):
        return False
    counts: dict[str, int] = {}
    for r in alive:
        counts[r.deployment] = counts.get(r.deployment, 0) + 1
    return all(counts.get(name, 0) == want for name, want in expected.items())
