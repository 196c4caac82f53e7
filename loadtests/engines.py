"""The modes that run without Ray or HTTP, each a call that answers one load-test request with the
problems found in its answer, as the Serve modes' caller does: InProcess (the router's own work
over the service's in-process engine, every head colocated: Serve's cost is the rest),
PerTaskModels (one full model per head, what a user without this system deploys) and ModelOnly
(the backbone and the heads on batches tokenised beforehand: the ceiling)."""
from __future__ import annotations

import asyncio
import gc
import itertools
import json
import time
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from loadtests.checks import Catalog as CheckCatalog, check_batch, check_predict
from loadtests.loop import Outcome, Run
from loadtests.results import Batching
from model.checkpoint import load_model, load_tokenizer, read_manifest
from model.encoding import encode
from service.deploy.in_process import InProcessEngine, load_in_process
from service.deploy.stages import ModelStage
from service.http.schemas import BatchResponse, CheckpointRef, PredictRequest, PredictResponse
from service.pipeline.catalog import Catalog
from service.pipeline.failures import InputError, StageError, TargetFailed
from service.pipeline.limits import Limits, Timeouts
from service.pipeline.predict import Predictor, plan

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# The clients are the benchmark's own: no queue bound of a deployment applies in process.
QUEUE = 4096


def stage_for(batching: Batching, device: str) -> ModelStage:
    """The backbone stage the in-process modes run with: the config's batching and threads."""
    return ModelStage(num_gpus=1 if device == "cuda" else 0, torch_threads=batching.torch_threads,
                      max_ongoing_requests=max(batching.max_batch_size, 32), max_queued_requests=QUEUE,
                      batching={"max_batch_size": batching.max_batch_size, "batch_wait_timeout_s": batching.wait_s})


class InProcess:
    def __init__(self, checkpoint: Path, batching: Batching, device: str = "cpu", dtype: str = "float32",
                 heads: list[str] | None = None):
        manifest = read_manifest(checkpoint)
        self.catalog = Catalog.from_manifest(manifest, {h.name: "colocated" for h in manifest.heads})
        self.checks = CheckCatalog(heads=[h.name for h in manifest.heads], tasks=manifest.tasks)
        self.engine: InProcessEngine = load_in_process(checkpoint, stage_for(batching, device), heads,
                                                       autocast=None if dtype == "float32" else dtype)
        self.predictor = Predictor(self.engine, self.catalog, Timeouts())
        self.limits = Limits()
        self.checkpoint = CheckpointRef(name=self.catalog.checkpoint.name, hash=self.catalog.checkpoint.hash)
        self._ids = itertools.count()

    async def __call__(self, request: dict[str, Any]) -> list[str]:
        """`request`: a /v1/predict body, or {"items": [...]} as /v1/predict/batch gets it."""
        rid = f"inprocess-{next(self._ids)}"
        try:
            if "items" in request:
                planned = [plan(PredictRequest(**item).query(), self.catalog, self.limits) for item in request["items"]]
                results, timings = await self.predictor.predict(planned, rid)
                body = BatchResponse(request_id=rid, checkpoint=self.checkpoint, results=results, timings_ms=timings)
                return check_batch(200, json.loads(body.model_dump_json()), request["items"], self.checks)
            result, timings = await self.predictor.predict_one(plan(PredictRequest(**request).query(), self.catalog, self.limits), rid)
            if isinstance(result, TargetFailed):
                return [f"target {result.head} failed: {result.error}"]
            body = PredictResponse(**dict(result), request_id=rid, checkpoint=self.checkpoint, timings_ms=timings)
            # to JSON as the router sends it, and back as a client reads it
            return check_predict(200, json.loads(body.model_dump_json()), request, self.checks)
        except (ValidationError, InputError, StageError, TargetFailed) as err:  # the router's 4xx and 5xx
            return [f"{type(err).__name__}: {err}"]

    def batch_inputs_mean(self) -> float:
        stats = self.engine.backbone.stats()
        return stats["inputs_served"] / max(stats["forward_passes"], 1)


class PerTaskModels:
    """One in-process model per head, each loading its own backbone; a request runs every model
    it needs, side by side, each tokenising and encoding the input itself."""

    def __init__(self, checkpoint: Path, batching: Batching, device: str = "cpu", dtype: str = "float32",
                 heads: list[str] | None = None):
        names = heads or [h.name for h in read_manifest(checkpoint).heads]
        self.models = {name: InProcess(checkpoint, batching, device, dtype, heads=[name]) for name in names}
        self.checks = next(iter(self.models.values())).checks

    async def __call__(self, request: dict[str, Any]) -> list[str]:
        if "items" in request:
            found = await asyncio.gather(*(self(item) for item in request["items"]))
            return [f"item {i}: {p}" for i, problems in enumerate(found) for p in problems]
        target = self.checks.target_of(request)
        needed = [target, *sorted(self.checks.expected_others(request))]
        alone = {k: v for k, v in request.items() if k not in ("task", "heads", "target_head")}
        found = await asyncio.gather(*(self.models[h]({**alone, "target_head": h, "heads": []}) for h in needed))
        return [f"{h}: {p}" for h, problems in zip(needed, found) for p in problems]

    def batch_inputs_mean(self) -> float:
        means = [m.batch_inputs_mean() for m in self.models.values()]
        return sum(means) / len(means)


class ModelOnly:
    """The ceiling every other mode is a fraction of: the backbone and the requested heads called
    on batches tokenised beforehand, back to back in a loop: no queue, no decoding to text, no
    host work between passes but the loop itself. A cell at concurrency c runs batches of
    min(c, max batch size) inputs, the most a batching stage could gather there. Generative heads
    generate as in serving (to EOS or max_target_tokens) and the cell records how many tokens."""

    def __init__(self, checkpoint: Path, batching: Batching, device: str = "cpu", dtype: str = "float32"):
        if batching.torch_threads:
            torch.set_num_threads(batching.torch_threads)
        self.manifest = read_manifest(checkpoint)
        self.tokenizer = load_tokenizer(checkpoint, self.manifest)
        self.checks = CheckCatalog(heads=[h.name for h in self.manifest.heads], tasks=self.manifest.tasks)
        self.model = load_model(checkpoint)[0].to(device).eval()
        self.device, self.dtype, self.max_batch_size = device, DTYPES[dtype], batching.max_batch_size
        self.generated_tokens: list[float] = []

    def _heads_of(self, request: dict[str, Any]) -> set[str]:
        return {self.checks.target_of(request), *self.checks.expected_others(request)}

    def _encode(self, requests: list[dict[str, Any]]):
        cfg = self.manifest.encoding
        questions = [r["inputs"].get("question") or "" for r in requests]
        passages = [r["inputs"].get("context") or r["inputs"]["text"] for r in requests]
        return encode(self.tokenizer, questions, passages, max_length=cfg.max_length, stride=cfg.stride,
                      max_question_tokens=cfg.max_question_tokens).to(self.device)

    async def loop(self, concurrency: int, requests: list[dict[str, Any]], seconds: float) -> Run:
        size = min(concurrency, self.max_batch_size)
        heads = [h.name for h in self.manifest.heads if any(h.name in self._heads_of(r) for r in requests)]
        batches = [self._encode([requests[(i + j) % len(requests)] for j in range(size)]) for i in range(0, len(requests), size)]
        return await asyncio.to_thread(self._run, batches, heads, seconds)

    @torch.no_grad()
    def _run(self, batches: list, heads: list[str], seconds: float) -> Run:
        cuda = torch.device(self.device).type == "cuda"
        autocast = torch.autocast(device_type=torch.device(self.device).type, dtype=self.dtype, enabled=self.dtype != torch.float32)
        outcomes: list[Outcome] = []
        started = time.perf_counter()
        i = 0
        while time.perf_counter() - started < seconds:
            enc = batches[i % len(batches)]
            i += 1
            t0 = time.perf_counter()
            with autocast:
                batch = self.model.encode(enc)
                outputs = [self.model.heads[h](batch) for h in heads]
            if cuda:
                torch.cuda.synchronize()
            answer = Outcome(sent_at=t0 - started, latency_s=time.perf_counter() - t0)
            outcomes.extend([answer] * enc.num_inputs)  # one answer per input: throughput is inputs/s
            for out in outputs:
                sequences = getattr(out, "sequences", None)
                if sequences is not None:
                    self.generated_tokens.append(float((sequences != self.model.info.pad_token_id).sum(-1).float().mean()))
        return Run(outcomes, time.perf_counter() - started)


IN_PROCESS = {"inprocess": InProcess, "per_task": PerTaskModels}  # the modes whose peak memory is measured alone


def freeze_heap() -> None:
    """As Serve does in every replica once it is built (RAY_SERVE_FREEZE_GC_ON_STARTUP, on by
    default): what was loaded lives for the whole run, so the collector stops scanning it. Without
    this, an in-process engine shares its heap with the Ray driver and the models, and one full
    collection (0.39 s of CPU, measured) landed in whichever stage allocated."""
    gc.collect()
    gc.freeze()
