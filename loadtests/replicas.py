"""Which processes serve a deployment (the GCS actor table, read as the router reads it after a
timeout: service.deploy.liveness), how many replicas each deployment runs, whether the
application is whole again."""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import Any

from service.deploy.liveness import alive_replica_actors

APP = "wiyh"  # the application's name where a run serves one


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


def replica_counts(status: Any, app: str = APP) -> tuple[dict[str, int], dict[str, int]]:
    """RUNNING replicas and replicas in any state (starting, stopping included) per deployment of
    `app`, from serve.status()."""
    found = status.applications.get(app)
    if found is None:
        return {}, {}
    running = {name: int(d.replica_states.get("RUNNING", 0)) for name, d in found.deployments.items()}
    return running, {name: int(sum(d.replica_states.values())) for name, d in found.deployments.items()}


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
