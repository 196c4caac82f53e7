"""The engine that runs the whole model in this process, no handle in between: the backbone's
batching (backbone_batches.py) with every head colocated in its replica. It is what serves
`backbone.placement: router` (the CPU config: one deployment), and, with no Ray at all, the
benchmark's in-process baseline and the tests' real-model router, so all three run one code path.

Why in the router: with every head colocated, the router's one handle call per pass to a backbone
replica cost more CPU than the model work it carried on a 2-core machine: Serve's handle and routing
code in the router, the replica's request handling and pickling in the backbone, Ray's task
bookkeeping, and a second deployment for the controller to watch (docs/results.md, Speed options).

The router's guarantees stay as they are: validation and the proxy's 503 past the router's queue
do not depend on where the backbone runs; every call is bounded by `timeouts.backbone_s` (504);
more calls waiting than the backbone's `max_ongoing_requests + max_queued_requests` are refused
as overloaded (503 + Retry-After), as the backbone deployment's queue would refuse them; the model
raising is a 502 naming the backbone.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Iterable

from model.checkpoint import read_manifest
from service.deploy.backbone_batches import BackboneBatches
from service.deploy.stages import BackboneStage, HeadStage
from service.pipeline.calls import EncodeCall, EncodeResult, HeadCall, HeadReply
from service.pipeline.failures import BACKBONE, StageError, stage_of_head
from service.pipeline.metrics import NullStageMetrics

log = logging.getLogger("wiyh.service")


class InProcessEngine:
    """`calls_cross_processes` False: the router need not merge requests before calling it, the
    backbone's batcher is the one batching point of this process (router.py)."""

    calls_cross_processes = False

    def __init__(self, backbone: BackboneBatches, stage: BackboneStage, retry_after_s: float = 1.0):
        self.backbone, self.retry_after_s = backbone, retry_after_s
        self.capacity = stage.max_ongoing_requests + stage.max_queued_requests
        self.max_wait_s = stage.max_queue_wait_s
        self.in_flight = 0
        self.inputs_in_flight = 0  # of the calls let in and not answered yet: waiting or in a batch

    async def encode(self, call: EncodeCall, timeout_s: float) -> EncodeResult:
        if self.in_flight >= self.capacity:
            raise StageError(BACKBONE, "overloaded", "its queue is full", self.retry_after_s)
        inputs = len(call.contexts)
        if self.max_wait_s is not None:
            # Counted here, as calls are let in, not in the batcher's queue: calls of one burst
            # reach this line before any of them reaches the queue.
            wait = self.backbone.pace.seconds_for(self.inputs_in_flight + inputs)
            if wait is not None and wait > self.max_wait_s:
                raise StageError(BACKBONE, "overloaded", f"its queue holds about {wait:.1f} s of work with this call, "
                                 f"above max_queue_wait_s {self.max_wait_s:g}", self.retry_after_s)
        self.in_flight += 1
        self.inputs_in_flight += inputs
        try:
            return await asyncio.wait_for(self.backbone.encode(call), timeout_s)
        except asyncio.TimeoutError:
            raise StageError(BACKBONE, "timeout", f"no answer within {timeout_s:g} s") from None
        except Exception as err:  # the model code raised; logged with the request id, reported by class only
            log.warning("request %s: backbone raised %s", call.request_id, type(err).__name__, exc_info=True)
            raise StageError(BACKBONE, "failed", f"raised {type(err).__name__}") from None
        finally:
            self.in_flight -= 1
            self.inputs_in_flight -= inputs

    async def run_head(self, head: str, call: HeadCall, timeout_s: float) -> HeadReply:
        # The settings refuse a head replica next to an in-router backbone; this is the plan's bug.
        raise StageError(stage_of_head(head), "unavailable", f"head {head!r} has no replica deployment")

    async def readiness(self, timeout_s: float) -> dict[str, str | None]:
        return {BACKBONE: None}  # built in this replica's constructor, so up whenever the router is


def load_in_process(checkpoint: str | Path, stage: BackboneStage | None = None, heads: Iterable[str] | None = None,
                    hidden_dtype: str = "float32", autocast: str | None = None) -> InProcessEngine:
    """The checkpoint's model in this process, without Ray: `heads` (default: every head) colocated
    with the backbone, batched as `stage` says (default: the backbone's default settings)."""
    stage = stage or BackboneStage()
    names = list(heads) if heads is not None else [h.name for h in read_manifest(checkpoint).heads]
    colocated = {name: HeadStage(placement="colocated") for name in names}
    backbone = BackboneBatches(str(checkpoint), stage, colocated, hidden_dtype, NullStageMetrics(), autocast=autocast)
    return InProcessEngine(backbone, stage)
