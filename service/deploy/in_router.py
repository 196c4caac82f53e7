"""The Engine when the backbone runs inside the router's own replica (`backbone.placement: router`):
the whole model, colocated heads included, served by one deployment.

Why: with every head colocated, the router's one handle call per pass to the backbone replica
cost more CPU than the model work it carried on a 2-core machine: Serve's handle and routing code
in the router, the replica's request handling and pickling in the backbone, Ray's task
bookkeeping, and a second deployment for the controller to watch (docs/results.md, Speed options). Here
the same batching (backbone_batches.py) runs in the router's event loop; nothing is pickled.

The router's guarantees stay as they are: validation and the proxy's 503 past the router's queue
do not depend on where the backbone runs; every call is bounded by `timeouts.backbone_s` (504);
more calls waiting than the backbone's `max_ongoing_requests + max_queued_requests` are refused
as overloaded (503 + Retry-After), as the backbone deployment's queue would refuse them; the model
raising is a 502 naming the backbone.
"""
from __future__ import annotations

import asyncio
import logging

from service.deploy.backbone_batches import BackboneBatches
from service.deploy.stages import ModelStage
from service.pipeline.calls import EncodeCall, EncodeResult, HeadCall, HeadReply
from service.pipeline.failures import BACKBONE, StageError, stage_of_head

log = logging.getLogger("wiyh.service")


class InRouterEngine:
    def __init__(self, backbone: BackboneBatches, stage: ModelStage, retry_after_s: float = 1.0):
        self.backbone, self.retry_after_s = backbone, retry_after_s
        self.capacity = stage.max_ongoing_requests + stage.max_queued_requests
        self.in_flight = 0

    async def encode(self, call: EncodeCall, timeout_s: float) -> EncodeResult:
        if self.in_flight >= self.capacity:
            raise StageError(BACKBONE, "overloaded", "its queue is full", self.retry_after_s)
        self.in_flight += 1
        try:
            return await asyncio.wait_for(self.backbone.encode(call), timeout_s)
        except asyncio.TimeoutError:
            raise StageError(BACKBONE, "timeout", f"no answer within {timeout_s:g} s") from None
        except Exception as err:  # the model code raised; logged with the request id, reported by class only
            log.warning("request %s: backbone raised %s", call.request_id, type(err).__name__, exc_info=True)
            raise StageError(BACKBONE, "failed", f"raised {type(err).__name__}") from None
        finally:
            self.in_flight -= 1

    async def run_head(self, head: str, call: HeadCall, timeout_s: float) -> HeadReply:
        # The settings refuse a head replica next to an in-router backbone; this is the plan's bug.
        raise StageError(stage_of_head(head), "unavailable", f"head {head!r} has no replica deployment")

    async def readiness(self, timeout_s: float) -> dict[str, str | None]:
        return {BACKBONE: None}  # built in this replica's constructor, so up whenever the router is
