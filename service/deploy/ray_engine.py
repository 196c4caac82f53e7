"""The Engine over Serve deployment handles: every call bounded by a timeout, every failure turned
into a StageError that says which stage and what kind (the router decides what it means).

    timeout      no answer in time (the call is cancelled)                       -> 504 for the target
    overloaded   the stage's queue is full (Serve's BackPressureError)           -> 503 + Retry-After
    unavailable  the replica died mid-call (retried once, retry.py)             -> 503 + Retry-After
                 or the call timed out after a call of this engine found a replica of
                 that stage dead and before any call of it answered again, or while a
                 replica died that Serve has not noticed yet (liveness.py, asked then)
                 or the hidden states a head was given are gone (InputLost, not retried:
                 the node that stored them was lost)
    failed       the stage's own code raised                                     -> 502

Serve's own mechanisms do the rest: the handle's queueing (a call waits until Serve has a
replica for it, which is what makes a just-started stage answer rather than refuse), the timeout
with cancellation, `max_queued_requests` (BackPressureError) and the exceptions a call raises.
Nothing polls the controller: a router that refused calls on its own view of the replicas
answered 503 in the first second after `/health/ready` (docs/results.md, Startup). The one
question asked beyond that, after a timeout only, is liveness.py's.

Hidden states travel as Serve's own composition does it: the backbone returns them in its answer,
so this process, the caller, owns that answer; every head call gets the backbone call's
DeploymentResponse as a top-level argument, which Ray keeps alive until the head has run and reads
zero-copy from the object store in the head. Nothing depends on a reference nested in an answer
(Ray can lose the borrow of those: docs/results.md, "Lost inputs") or on a clock.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from ray.exceptions import ObjectLostError, RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError, RequestCancelledError
from ray.serve.handle import DeploymentHandle, DeploymentResponse

from service.pipeline.calls import EncodeCall, EncodeResult, HeadCall, HeadReply
from service.pipeline.failures import BACKBONE, InputLost, StageError, stage_of_head

log = logging.getLogger("wiyh.service")


class RayEngine:
    calls_cross_processes = True

    def __init__(self, backbone: DeploymentHandle, heads: dict[str, DeploymentHandle], retry_after_s: float = 1.0,
                 lost_unnoticed: Callable[[str], bool] | None = None):
        """`lost_unnoticed(deployment)`: asked after a call timed out; True when a replica died that
        Serve has not noticed yet (liveness.py); None: never asked."""
        self.backbone, self.heads, self.retry_after_s = backbone, heads, retry_after_s
        self._lost_unnoticed = lost_unnoticed
        # Deployments one of whose replicas a call found dead, until a call to them answers again.
        # A call that times out meanwhile most likely waited for the replacement Serve is starting
        # (its handle holds calls until one runs): "unavailable" (503 + Retry-After), not "slow" (504).
        self._replacing: set[str] = set()

    async def encode(self, call: EncodeCall, timeout_s: float) -> EncodeResult:
        response = self.backbone.encode.remote(call)
        answer = await self._call(BACKBONE, self.backbone.deployment_name, response, timeout_s, call.request_id)
        if answer.hidden is None:
            return answer
        # The router keeps the response (what owns the hidden states), not the arrays it read with it.
        return answer.model_copy(update={"payload": None, "hidden": answer.hidden.model_copy(update={"ref": response})})

    async def run_head(self, head: str, call: HeadCall, timeout_s: float) -> HeadReply:
        handle = self.heads.get(head)
        if handle is None:
            raise StageError(stage_of_head(head), "unavailable", f"head {head!r} has no replica deployment")
        encoded = call.hidden.ref
        message = call.model_copy(update={"hidden": call.hidden.model_copy(update={"ref": None})})
        return await self._call(stage_of_head(head), handle.deployment_name, handle.predict.remote(message, encoded),
                               timeout_s, call.request_id)

    async def readiness(self, timeout_s: float) -> dict[str, str | None]:
        stages = {BACKBONE: self.backbone, **{stage_of_head(n): h for n, h in self.heads.items()}}

        async def probe(stage: str, handle: DeploymentHandle) -> str | None:
            try:
                await self._call(stage, handle.deployment_name, handle.ready.remote(), timeout_s, "readiness")
                return None
            except StageError as err:
                return f"{err.kind}: {err.message}"

        answers = await asyncio.gather(*(probe(s, h) for s, h in stages.items()))
        return dict(zip(stages, answers))

    async def _call(self, stage: str, deployment: str, response: DeploymentResponse, timeout_s: float,
                    request_id: str) -> Any:
        try:
            answer = await asyncio.wait_for(_awaited(response), timeout_s)
        except asyncio.TimeoutError:
            response.cancel()
            if deployment in self._replacing or await self._lost_since(deployment):
                raise StageError(stage, "unavailable", f"no answer within {timeout_s:g} s while a lost replica is "
                                 "being replaced", self.retry_after_s) from None
            raise StageError(stage, "timeout", f"no answer within {timeout_s:g} s") from None
        except BackPressureError:
            raise StageError(stage, "overloaded", "its queue is full", self.retry_after_s) from None
        except (DeploymentUnavailableError, RayActorError, RequestCancelledError) as err:
            log.warning("request %s: %s unavailable: %s", request_id, stage, err)
            if isinstance(err, RayActorError):
                self._replacing.add(deployment)
            raise StageError(stage, "unavailable", "no replica could take the call", self.retry_after_s) from None
        except Exception as err:  # the stage's own code raised; its log has the traceback
            cause = getattr(err, "cause", None) or err
            if isinstance(cause, ObjectLostError):  # Ray could not give the head its input
                log.warning("request %s: %s lost its input: %s", request_id, stage, type(cause).__name__)
                raise InputLost(stage, "its input was lost with the node that stored it", self.retry_after_s) from None
            log.warning("request %s: %s raised %s", request_id, stage, type(cause).__name__)
            raise StageError(stage, "failed", f"raised {type(cause).__name__}") from None
        self._replacing.discard(deployment)
        return answer

    async def _lost_since(self, deployment: str) -> bool:
        if self._lost_unnoticed is None:
            return False
        try:
            lost = await asyncio.to_thread(self._lost_unnoticed, deployment)
        except Exception as err:  # unknown: the timeout stands as a timeout
            log.warning("replica liveness unavailable (%s)", type(err).__name__)
            return False
        if not lost:
            return False
        self._replacing.add(deployment)
        return True


async def _awaited(response: Any) -> Any:
    return await response
