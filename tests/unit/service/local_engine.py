"""An Engine that runs the real model in this process: the backbone and every head colocated in
one BackboneRunner, no Ray. The router's hostile-input tests use it to send what they fuzz through
the real tokenizer and heads, so "a correct answer" is checked on real offsets, not a fake's."""
from __future__ import annotations

import time
from pathlib import Path

from service.pipeline.calls import EncodeCall, EncodeResult, HeadCall, HeadReply
from service.pipeline.failures import StageError
from service.pipeline.catalog import Catalog
from service.replica.runners import BackboneRunner
from model.checkpoint import read_manifest


class LocalEngine:
    def __init__(self, checkpoint: Path):
        manifest = read_manifest(checkpoint)
        self.runner = BackboneRunner(checkpoint, manifest, [h.name for h in manifest.heads])
        self.catalog = Catalog.from_manifest(manifest, {h.name: "colocated" for h in manifest.heads})

    async def encode(self, call: EncodeCall, timeout_s: float) -> EncodeResult:
        started = time.perf_counter()
        [done] = self.runner.run([call])
        return EncodeResult(hidden=None, windows_per_input=done.windows_per_input, question_truncated=done.question_truncated,
                            colocated=done.colocated, forward_ms=(time.perf_counter() - started) * 1000,
                            pass_inputs=len(call.contexts))

    async def run_head(self, head: str, call: HeadCall, timeout_s: float) -> HeadReply:
        raise StageError(f"head {head}", "unavailable", "every head is colocated in the local engine")

    async def readiness(self, timeout_s: float) -> dict[str, str | None]:
        return ["backbone"]
