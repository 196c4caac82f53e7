"""What the request pipeline needs from the stages, whatever runs them.

RayEngine (ray_engine.py) calls Serve deployments; tests give a fake in the same shape, so the
router's logic is tested without a cluster. Every method is bounded by `timeout_s` and reports a
stage that did not answer as a StageError, never as a bare exception.
"""
from __future__ import annotations

from typing import Protocol

from service.pipeline.calls import EncodeCall, EncodeResult, HeadCall, HeadReply


class Engine(Protocol):
    # True when each call crosses to another process (a Serve handle): the router then merges
    # single requests that arrive together into one call (merge.py), since every call costs CPU
    # of its own. False when the engine batches in this process: its batcher is the only one.
    calls_cross_processes: bool

    async def encode(self, call: EncodeCall, timeout_s: float) -> EncodeResult:
        """Tokenise and run the backbone once for all of the call's inputs (plus colocated heads)."""
        ...

    async def run_head(self, head: str, call: HeadCall, timeout_s: float) -> HeadReply:
        """Run one head replica over stored hidden states."""
        ...

    async def readiness(self, timeout_s: float) -> dict[str, str | None]:
        """Stage name -> None when it answers, else why not."""
        ...
