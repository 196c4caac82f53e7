"""The Engine over Serve deployment handles: every call bounded by a timeout, every failure turned
into a StageError that says which stage and what kind (the router decides what it means).

    timeout      no answer in time (the call is cancelled)                       -> 504 for the target
    overloaded   the stage's queue is full (Serve's BackPressureError)           -> 503 + Retry-After
    unavailable  the replica died mid-call (retried once, retry.py)             -> 503 + Retry-After
                 or the call timed out while a dead replica awaits replacement
                 or none runs (NoReplicaRunning, census.py: fails at once, not retried)
                 or the stored input died with its replica (InputLost, not retried)
    failed       the stage's own code raised                                     -> 502
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ray.exceptions import ObjectLostError, RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError, RequestCancelledError
from ray.serve.handle import DeploymentHandle

from service.calls import EncodeCall, EncodeResult, HeadCall, HeadReply, StageError
from service.census import ReplicaCensus
from service.retry import InputLost, NoReplicaRunning

log = logging.getLogger("wiyh.service")

# After a stage lost a replica, its calls that time out within this window most likely waited for
# the replacement Serve is starting (until the controller notices, its handle has no replica to
# offer): they are reported as unavailable (503 + Retry-After), not as a timeout (504).
REPLACEMENT_WINDOW_S = 60.0


class RayEngine:
    def __init__(self, backbone: DeploymentHandle, heads: dict[str, DeploymentHandle], retry_after_s: float = 1.0,
                 census: ReplicaCensus | None = None):
        self.backbone, self.heads, self.retry_after_s, self.census = backbone, heads, retry_after_s, census
        self._replica_lost_at: dict[str, float] = {}  # deployment -> when a call last found its replica dead

    async def encode(self, call: EncodeCall, timeout_s: float) -> EncodeResult:
        return await self._call("backbone", self.backbone, "encode", call, timeout_s, call.request_id)

    async def run_head(self, head: str, call: HeadCall, timeout_s: float) -> HeadReply:
        handle = self.heads.get(head)
        if handle is None:
            raise StageError(f"head {head}", "unavailable", f"head {head!r} has no replica deployment")
        return await self._call(f"head {head}", handle, "predict", call, timeout_s, call.request_id)

    async def readiness(self, timeout_s: float) -> dict[str, str | None]:
        stages = {"backbone": self.backbone, **{f"head {n}": h for n, h in self.heads.items()}}

        async def probe(stage: str, handle: DeploymentHandle) -> str | None:
            try:
                await self._call(stage, handle, "ready", None, timeout_s, "readiness")
                return None
            except StageError as err:
                return f"{err.kind}: {err.message}"

        answers = await asyncio.gather(*(probe(s, h) for s, h in stages.items()))
        return dict(zip(stages, answers))

    async def _call(self, stage: str, handle: DeploymentHandle, method: str, arg: Any, timeout_s: float,
                    request_id: str) -> Any:
        if self.census is not None and self.census.none_running(handle.deployment_name):
            # it would only wait for a replica Serve is still starting (census.py)
            raise NoReplicaRunning(stage, self.retry_after_s)
        remote = getattr(handle, method).remote
        response = remote(arg) if arg is not None else remote()
        try:
            return await asyncio.wait_for(_awaited(response), timeout_s)
        except asyncio.TimeoutError:
            response.cancel()
            if await self._replacing(handle.deployment_name):
                raise StageError(stage, "unavailable", f"no answer within {timeout_s:g} s while a lost replica is "
                                 "being replaced", self.retry_after_s) from None
            raise StageError(stage, "timeout", f"no answer within {timeout_s:g} s") from None
        except BackPressureError:
            raise StageError(stage, "overloaded", "its queue is full", self.retry_after_s) from None
        except (DeploymentUnavailableError, RayActorError, RequestCancelledError) as err:
            log.warning("request %s: %s unavailable: %s", request_id, stage, err)
            if isinstance(err, RayActorError):
                self._replica_lost_at[handle.deployment_name] = time.monotonic()
            raise StageError(stage, "unavailable", "no replica could take the call", self.retry_after_s) from None
        except Exception as err:  # the stage's own code raised; its log has the traceback
            cause = getattr(err, "cause", None) or err
            if isinstance(cause, ObjectLostError):  # the replica could not read its input
                log.warning("request %s: %s lost its input: %s", request_id, stage, type(cause).__name__)
                raise InputLost(stage, "its input was lost with the replica that stored it", self.retry_after_s) from None
            log.warning("request %s: %s raised %s", request_id, stage, type(cause).__name__)
            raise StageError(stage, "failed", f"raised {type(cause).__name__}") from None

    async def _replacing(self, deployment: str) -> bool:
        lost_at = self._replica_lost_at.get(deployment)
        if lost_at is not None and time.monotonic() - lost_at < REPLACEMENT_WINDOW_S:
            return True
        if self.census is None:
            return False
        if self.census.none_running(deployment) or await self.census.lost_a_replica(deployment):
            self._replica_lost_at[deployment] = time.monotonic()
            return True
        return False


async def _awaited(response: Any) -> Any:
    return await response
