"""The modes that run without Ray or HTTP, each a call that answers one load-test request with the
problems found in its answer, as the Serve modes' caller does: InProcess (the router's own work
over the service's in-process engine, every head colocated: Serve's cost is the rest),
PerTaskModels (one full model per head, what a user without this system deploys) and ModelOnly
(the backbone and the heads on batches tokenised beforehand: the ceiling); and the bytes of hidden
states a request moves to head replicas.

    python -m loadtests.engines MODE PLAN.json OUT.json

runs one in-process mode's cells in a process of its own, so its peak memory is its own (the bench
starts it; not meant to be run by hand)."""
from __future__ import annotations

import asyncio
import gc
import itertools
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from loadtests.cells import run_cells
from loadtests.checks import Catalog as CheckCatalog, check_batch, check_predict
from loadtests.inputs import sample_requests
from loadtests.loop import Outcome, Run
from loadtests.results import Batching, BytesPerRequest, ModeResult, Plan
from model.checkpoint import load_model, load_tokenizer, read_manifest
from model.encoding import encode
from service.deploy.in_process import InProcessEngine, load_in_process
from service.deploy.stages import ModelStage
from service.http.answers import Answers
from service.http.errors import ApiError
from service.http.schemas import BatchRequest, PredictRequest
from service.pipeline.catalog import Catalog
from service.pipeline.failures import InputError, StageError, TargetFailed
from service.pipeline.limits import Limits, Timeouts
from service.pipeline.predict import Predictor

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
        self.answers = Answers(Predictor(self.engine, self.catalog, Timeouts()), self.catalog, Limits())
        self._ids = itertools.count()

    async def __call__(self, request: dict[str, Any]) -> list[str]:
        """`request`: a /v1/predict body, or {"items": [...]} as /v1/predict/batch gets it; the
        routes' own work (service/http/answers.py), the response to JSON as the router sends it and
        back as a client reads it."""
        rid = f"inprocess-{next(self._ids)}"
        try:
            if "items" in request:
                batch = await self.answers.predict_batch(BatchRequest(**request), rid)
                return check_batch(200, json.loads(batch.model_dump_json()), request["items"], self.checks)
            one = await self.answers.predict(PredictRequest(**request), rid)
            return check_predict(200, json.loads(one.model_dump_json()), request, self.checks)
        except (ValidationError, ApiError, InputError, StageError, TargetFailed) as err:  # the router's 4xx and 5xx
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


@torch.no_grad()
def measure_bytes(checkpoint: Path, requests: list[dict[str, Any]], replica_heads: int) -> BytesPerRequest:
    """Bytes of hidden states one request makes the backbone store for head replicas, measured with
    the service's own code (BackboneRunner + payload.pack), one request at a time."""
    from model.heads import HeadBatch
    from service.pipeline.calls import EncodeCall
    from service.replica.payload import pack
    from service.replica.runners import BackboneRunner

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

def alone(mode: str, plan: Plan) -> ModeResult:
    """The cells of one in-process mode, and the peak memory of this process."""
    engine = IN_PROCESS[mode](Path(plan.checkpoint), plan.batching, plan.device, plan.dtype)
    cells = asyncio.run(run_cells(mode, engine, plan, sample_requests(plan.requests_per_setting)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    note = "peak RSS of the one process (models, tokenizer, Python, torch)"
    gpu = None
    if plan.device == "cuda":
        gpu = torch.cuda.max_memory_reserved() / 2**20
        note += "; GPU: torch's peak reserved memory"
    return ModeResult(mode=mode, peak_rss_mib=peak, memory_note=note, peak_gpu_mib=gpu, cells=cells,
                      batch_inputs_mean=engine.batch_inputs_mean())


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in IN_PROCESS:
        sys.exit(f"usage: python -m loadtests.engines {{{','.join(IN_PROCESS)}}} PLAN.json OUT.json")
    mode, plan_path, out_path = sys.argv[1:]
    Path(out_path).write_text(alone(mode, Plan.model_validate_json(Path(plan_path).read_text())).model_dump_json())
