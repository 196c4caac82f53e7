"""The benchmark's modes without Ray or HTTP, each a call that answers a request with the problems
found in its answer: InProcess (the router's work over the service's in-process engine: Serve's
cost is the rest), PerTaskModels (one full model per head, what a user without this system
deploys), ModelOnly (the ceiling); and the bytes of hidden states a request moves to head replicas.
`python -m loadtests.engines MODE PLAN.json OUT.json` (the benchmark runs it) measures one
in-process mode in a process of its own, so that its peak memory is its own."""
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

from loadtests.measure import Target, run_interleaved
from loadtests.results import Batching, BytesPerRequest, ModeResult, Plan
from loadtests.traffic import Catalog as CheckCatalog, Outcome, Run, check_answer, checkpoint_requests
from model.checkpoint import load_model, load_tokenizer, read_manifest
from model.encoding import encode
from service.deploy.in_process import InProcessEngine, load_in_process
from service.deploy.stages import BackboneStage
from service.http.answers import Answers
from service.http.errors import ApiError
from service.http.schemas import BatchRequest, PredictRequest
from service.pipeline.catalog import Catalog
from service.pipeline.failures import InputError, StageError, TargetFailed
from service.pipeline.limits import Limits, Timeouts
from service.pipeline.predict import Predictor


def encode_requests(tokenizer: Any, manifest: Any, requests: list[dict[str, Any]]) -> Any:
    """The requests' inputs tokenised and windowed as the service does (model/encoding.py)."""
    cfg = manifest.encoding
    return encode(tokenizer, [r["inputs"].get("question") or "" for r in requests],
                  [r["inputs"].get("context") or r["inputs"]["text"] for r in requests],
                  max_length=cfg.max_length, stride=cfg.stride, max_question_tokens=cfg.max_question_tokens)


class InProcess:
    def __init__(self, checkpoint: Path, batching: Batching, device: str = "cpu", dtype: str = "float32",
                 heads: list[str] | None = None):
        manifest = read_manifest(checkpoint)
        self.catalog = Catalog.from_manifest(manifest, {h.name: "colocated" for h in manifest.heads})
        self.checks = CheckCatalog(heads=[h.name for h in manifest.heads], tasks=manifest.tasks)
        # The config's batching and threads; the clients are the benchmark's own, so no queue bound applies.
        stage = BackboneStage(num_gpus=1 if device == "cuda" else 0, torch_threads=batching.torch_threads,
                              overlap_batches=batching.overlap_batches,
                              max_ongoing_requests=max(batching.max_batch_size, 32), max_queued_requests=4096,
                              batching={"max_batch_size": batching.max_batch_size, "batch_wait_timeout_s": batching.wait_s})
        self.engine: InProcessEngine = load_in_process(checkpoint, stage, heads, autocast=None if dtype == "float32" else dtype)
        self.answers = Answers(Predictor(self.engine, self.catalog, Timeouts()), self.catalog, Limits())
        self._ids = itertools.count()

    async def __call__(self, request: dict[str, Any]) -> list[str]:
        """The routes' own work (service/http/answers.py), the answer to JSON and back as a client reads it."""
        rid = f"inprocess-{next(self._ids)}"
        try:
            if "items" in request:
                answer = await self.answers.predict_batch(BatchRequest(**request), rid)
            else:
                answer = await self.answers.predict(PredictRequest(**request), rid)
        except (ValidationError, ApiError, InputError, StageError, TargetFailed) as err:  # the router's 4xx and 5xx
            return [f"{type(err).__name__}: {err}"]
        return check_answer(200, json.loads(answer.model_dump_json()), request, self.checks)

    def batch_inputs_mean(self) -> float:
        stats = self.engine.backbone.stats()
        return stats["inputs_served"] / max(stats["forward_passes"], 1)


class PerTaskModels:
    """One in-process model per head, each with its own backbone; a request runs those it needs side by side."""

    def __init__(self, checkpoint: Path, batching: Batching, device: str = "cpu", dtype: str = "float32"):
        names = [h.name for h in read_manifest(checkpoint).heads]
        self.models = {name: InProcess(checkpoint, batching, device, dtype, heads=[name]) for name in names}
        self.checks = next(iter(self.models.values())).checks

    async def __call__(self, request: dict[str, Any]) -> list[str]:
        if "items" in request:
            found = await asyncio.gather(*(self(item) for item in request["items"]))
            return [f"item {i}: {p}" for i, problems in enumerate(found) for p in problems]
        needed = [self.checks.target_of(request), *sorted(self.checks.expected_others(request))]
        alone = {k: v for k, v in request.items() if k not in ("task", "heads", "target_head")}
        found = await asyncio.gather(*(self.models[h]({**alone, "target_head": h, "heads": []}) for h in needed))
        return [f"{h}: {p}" for h, problems in zip(needed, found) for p in problems]

    def batch_inputs_mean(self) -> float:
        means = [m.batch_inputs_mean() for m in self.models.values()]
        return sum(means) / len(means)


class ModelOnly:
    """The ceiling: the backbone and the requested heads back to back on batches tokenised
    beforehand (no queue, no decoding to text), batches of min(c, max batch size) inputs at
    concurrency c. Generative heads generate as in serving; the tokens they wrote are recorded."""

    def __init__(self, checkpoint: Path, batching: Batching, device: str = "cpu", dtype: str = "float32"):
        if batching.torch_threads:
            torch.set_num_threads(batching.torch_threads)
        self.manifest = read_manifest(checkpoint)
        self.tokenizer = load_tokenizer(checkpoint, self.manifest)
        self.checks = CheckCatalog(heads=[h.name for h in self.manifest.heads], tasks=self.manifest.tasks)
        self.model = load_model(checkpoint)[0].to(device).eval()
        self.device, self.dtype, self.max_batch_size = device, getattr(torch, dtype), batching.max_batch_size
        self.generated_tokens: list[float] = []

    async def loop(self, concurrency: int, requests: list[dict[str, Any]], seconds: float) -> Run:
        size = min(concurrency, self.max_batch_size)
        asked = {h for r in requests for h in (self.checks.target_of(r), *self.checks.expected_others(r))}
        heads = [h.name for h in self.manifest.heads if h.name in asked]
        batches = [encode_requests(self.tokenizer, self.manifest, [requests[(i + j) % len(requests)] for j in range(size)]).to(self.device)
                   for i in range(0, len(requests), size)]
        return await asyncio.to_thread(self._run, batches, heads, seconds)

    @torch.no_grad()
    def _run(self, batches: list, heads: list[str], seconds: float) -> Run:
        cuda = torch.device(self.device).type == "cuda"
        autocast = torch.autocast(device_type=torch.device(self.device).type, dtype=self.dtype, enabled=self.dtype != torch.float32)
        outcomes: list[Outcome] = []
        started = time.perf_counter()
        for enc in itertools.cycle(batches):
            if time.perf_counter() - started >= seconds:
                break
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
    """As Serve does in every replica (RAY_SERVE_FREEZE_GC_ON_STARTUP): one full collection of the
    loaded heap took 0.39 s of CPU, measured, in whichever stage allocated."""
    gc.collect()
    gc.freeze()


@torch.no_grad()
def measure_bytes(checkpoint: Path, requests: list[dict[str, Any]], replica_heads: int) -> BytesPerRequest:
    """Bytes of hidden states one request stores for head replicas (BackboneRunner + payload.pack)."""
    from model.heads import HeadBatch
    from service.replica.payload import pack
    from service.replica.runners import BackboneRunner

    manifest = read_manifest(checkpoint)
    runner = BackboneRunner(checkpoint, manifest, colocated=[])
    hidden_size, max_length = manifest.backbone.hidden_size, manifest.encoding.max_length
    rows = []  # per request: real tokens, bytes stored as float32 and float16, padded float32, a first token in float16
    for r in requests:
        enc = encode_requests(runner.tokenizer, manifest, [r])
        batch = HeadBatch.from_encoding(enc, runner.model(**enc.model_inputs()).last_hidden_state.detach())
        f32, f16 = pack(batch, range(0, 1), "float32"), pack(batch, range(0, 1), "float16")
        windows = f32.tokens_per_window.shape[0]
        rows.append((int(f32.tokens_per_window.sum()), f32.nbytes, f16.nbytes, windows * max_length * hidden_size * 4,
                     windows * hidden_size * 2))
    n = max(len(requests), 1)
    tokens, stored32, stored16, padded, cls = (sum(column) / n for column in zip(*rows)) if rows else (0.0,) * 5
    return BytesPerRequest(requests=len(requests), tokens_mean=tokens, stored_float32=stored32, stored_float16=stored16,
                           padded_float32=padded, cls_only_float16=cls, replica_heads=replica_heads)


def alone(mode: str, plan: Plan) -> ModeResult:
    """The cells of one in-process mode, and the peak memory of this process."""
    engine = IN_PROCESS[mode](Path(plan.checkpoint), plan.batching, plan.device, plan.dtype)
    cells = asyncio.run(run_interleaved({mode: Target(engine)}, plan, checkpoint_requests(plan.checkpoint, plan.requests_per_setting)))[mode]
    note = "peak RSS of the one process (models, tokenizer, Python, torch)"
    gpu = None
    if plan.device == "cuda":
        gpu = torch.cuda.max_memory_reserved() / 2**20
        note += "; GPU: torch's peak reserved memory"
    return ModeResult(mode=mode, peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
                      memory_note=note, peak_gpu_mib=gpu, cells=cells, batch_inputs_mean=engine.batch_inputs_mean())


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in IN_PROCESS:
        sys.exit(f"usage: python -m loadtests.engines {{{','.join(IN_PROCESS)}}} PLAN.json OUT.json")
    mode, plan_path, out_path = sys.argv[1:]
    Path(out_path).write_text(alone(mode, Plan.model_validate_json(Path(plan_path).read_text())).model_dump_json())
