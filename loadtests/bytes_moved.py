"""Bytes of hidden states one request makes the backbone store for head replicas, measured with
the service's own code (BackboneRunner + payload.pack), one request at a time."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from loadtests.results import BytesPerRequest


@torch.no_grad()
def measure_bytes(checkpoint: Path, requests: list[dict[str, Any]], replica_heads: int) -> BytesPerRequest:
    from service.pipeline.calls import EncodeCall
    from service.replica.payload import pack
    from service.replica.runners import BackboneRunner
    from model.checkpoint import read_manifest
    from model.encoding import encode
    from model.heads import HeadBatch

    manifest = read_manifest(checkpoint)
    runner = BackboneRunner(checkpoint, manifest, colocated=[])
    hidden_size = manifest.backbone.hidden_size
    cfg = manifest.encoding
    totals = {"tokens": 0.0, "f32": 0.0, "f16": 0.0, "padded": 0.0, "cls": 0.0}
    for i, r in enumerate(requests):
        call = EncodeCall(request_id=str(i), questions=[r["inputs"].get("question") or ""],
                          contexts=[r["inputs"].get("context") or r["inputs"]["text"]])
        enc = encode(runner.tokenizer, call.questions, call.contexts, max_length=cfg.max_length, stride=cfg.stride,
                     max_question_tokens=cfg.max_question_tokens)
        hidden = runner.model(**enc.model_inputs()).last_hidden_state.detach()
        batch = HeadBatch.from_encoding(enc, hidden)
        f32, f16 = pack(batch, range(0, 1), "float32"), pack(batch, range(0, 1), "float16")
        windows = f32.tokens_per_window.shape[0]
        totals["tokens"] += int(f32.tokens_per_window.sum())
        totals["f32"] += f32.nbytes
        totals["f16"] += f16.nbytes
        # What an unpacked batch would carry: every window padded to the model's length.
        totals["padded"] += windows * cfg.max_length * hidden_size * 4
        totals["cls"] += windows * hidden_size * 2
    n = max(len(requests), 1)
    return BytesPerRequest(
        requests=len(requests), tokens_mean=totals["tokens"] / n, stored_float32=totals["f32"] / n,
        stored_float16=totals["f16"] / n, padded_float32=totals["padded"] / n, cls_only_float16=totals["cls"] / n,
        replica_heads=replica_heads,
    )
