"""Which processes serve a deployment, and whether the application is whole again.

Replica actors are found in the GCS actor table by `service.deploy.liveness.alive_replica_actors`,
the same reading the router uses to tell a dead replica from a slow one after a timeout.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from service.deploy.liveness import alive_replica_actors



@dataclass(frozen=True)
class Replica:
    deployment: str
    actor_id: str
    pid: int
    node_id: str


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
