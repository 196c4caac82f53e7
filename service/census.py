"""How many replicas of each deployment Serve runs, as the router last heard it.

Why the router needs to know: a handle call to a deployment that has lost every replica (its node
died, or every replica crashed at once) does not fail, it waits for a new replica, and so each
request would hold a router slot for the stage's whole timeout before reporting what was known
from the start. With the census, such a call fails at once as `unavailable`: the non-target
head goes to errors[] without delaying the answer, the target gets 503 + Retry-After.

The counts come from serve.status() (the controller), polled in the background; between polls
and until the controller notices a death (its health check period), calls go ahead as usual and
the timeouts bound them. A call that times out in that window is told apart from a slow one by
the GCS, which knows at once that a replica process died (`lost_a_replica`). A deployment Serve
is not running at all (scaled to zero) is never short-circuited: a call is what makes Serve
start a replica there.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

log = logging.getLogger("wiyh.service")

# deployment -> (replicas RUNNING, replicas in any state)
Counts = dict[str, tuple[int, int]]


def serve_counts(app: str) -> Counts:
    from ray import serve

    status = serve.status().applications[app]
    return {name: (d.replica_states.get("RUNNING", 0), sum(d.replica_states.values()))
            for name, d in status.deployments.items()}


def alive_replica_actors(app: str, deployment: str | None = None) -> list[dict]:
    """The GCS entries of the ALIVE replica actors of `app` (of one deployment when named). The GCS
    learns of a killed process within moments, while the controller (serve.status()) reports the
    replica RUNNING until its next health check. The GCS actor table (what `ray list actors` reads)
    needs no dashboard process. Serve names a replica's actor class `ServeReplica:<app>:<deployment>`."""
    from ray._private import state

    found = []
    for actor in state.actors(actor_state_name="ALIVE").values():
        prefix, _, rest = actor["ActorClassName"].partition(":")
        actor_app, _, name = rest.partition(":")
        if prefix == "ServeReplica" and actor_app == app and (deployment is None or name == deployment):
            found.append(actor)
    return found


def count_alive_replicas(app: str, deployment: str) -> int:
    return len(alive_replica_actors(app, deployment))


class ReplicaCensus:
    def __init__(self, app: str, every_s: float = 1.0, fetch: Callable[[str], Counts] = serve_counts,
                 alive: Callable[[str, str], int] = count_alive_replicas):
        self.app, self.every_s, self._fetch, self._alive = app, every_s, fetch, alive
        self._counts: Counts | None = None  # None until the first answer, or after a failed poll
        self._task: asyncio.Task | None = None

    def none_running(self, deployment: str) -> bool:
        """True only when Serve is known to be starting replicas of `deployment` and none runs."""
        if self._task is None:  # first call: on the replica's event loop, where the poller must live
            self._task = asyncio.get_running_loop().create_task(self._poll_forever())
        if self._counts is None or deployment not in self._counts:
            return False
        running, total = self._counts[deployment]
        return running == 0 and total > 0

    async def lost_a_replica(self, deployment: str) -> bool:
        """True when fewer replica processes of `deployment` are alive than the controller last
        counted RUNNING: one died and Serve has not replaced it yet. Asked after a call timed out
        (rare, so the GCS query is affordable there): Serve's handle holds a call to a dead replica
        until another one takes it, so a timeout in that window means "unavailable", not "slow"."""
        if self._counts is None or deployment not in self._counts:
            return False
        running, _ = self._counts[deployment]
        try:
            alive = await asyncio.to_thread(self._alive, self.app, deployment)
        except Exception as err:  # unknown: the timeout stands as a timeout
            log.warning("replica liveness unavailable (%s)", type(err).__name__)
            return False
        return alive < running

    async def refresh(self) -> None:
        try:
            self._counts = await asyncio.to_thread(self._fetch, self.app)
        except Exception as err:  # unknown is not "none running": calls go ahead, timeouts bound them
            if self._counts is not None:
                log.warning("replica census unavailable (%s); calls go ahead without it", type(err).__name__)
            self._counts = None

    async def _poll_forever(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.every_s)
