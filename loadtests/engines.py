"""The two engines that run without Ray or HTTP, behind the same micro-batcher as the backbone
replica (same max batch size and wait):

    InProcess     one backbone pass per batch, every requested head reads it (the limit)
    PerTaskModels one full model per head: its own backbone copy, run once per head, which is
                  what a user without this system deploys (one fine-tuned model per task)
"""
from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from loadtests.checks import Catalog
from loadtests.measure import LoopResult
from model.heads.decoding import single_threaded

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class MicroBatcher(abc.ABC):
    """Requests queue; a batch forms from what waited, for at most `wait_s` after its first
    request, and runs in one worker thread while the next batch gathers. Subclasses say what a
    batch runs (`predict`)."""

    def __init__(self, max_batch_size: int, wait_s: float, torch_threads: int | None):
        self.max_batch_size, self.wait_s = max_batch_size, wait_s
        initializer = (lambda: torch.set_num_threads(torch_threads)) if torch_threads else None
        self._executor = ThreadPoolExecutor(max_workers=1, initializer=initializer)
        self._queue: asyncio.Queue = asyncio.Queue()  # binds to the running loop on first use
        self._worker: asyncio.Task | None = None
        self.batches = self.inputs = 0

    async def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._loop())
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((request, future))
        return await future

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = time.perf_counter() + self.wait_s
            while len(batch) < self.max_batch_size:
                remaining = deadline - time.perf_counter()
                if remaining <= 0 and self._queue.empty():
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), max(remaining, 0)))
                except asyncio.TimeoutError:
                    break
            self.batches += 1
            self.inputs += len(batch)
            try:
                answers = await loop.run_in_executor(self._executor, self.predict, [r for r, _ in batch])
            except Exception as err:  # every caller of the batch learns it failed
                for _, future in batch:
                    future.set_exception(err)
                continue
            for (_, future), answer in zip(batch, answers):
                future.set_result(answer)

    @abc.abstractmethod
    def predict(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One answer ({head: output}) per request, in order; runs in the worker thread."""


class _Loaded:
    """Shared loading: tokenizer, manifest, encoding settings, device and autocast."""

    def __init__(self, checkpoint: Path, device: str, dtype: str):
        from model.checkpoint import load_tokenizer, read_manifest

        self.manifest = read_manifest(checkpoint)
        self.tokenizer = load_tokenizer(checkpoint, self.manifest)
        self.catalog = Catalog(heads=[h.name for h in self.manifest.heads], tasks=self.manifest.tasks)
        self.device, self.dtype = device, DTYPES[dtype]

    def autocast(self) -> contextlib.AbstractContextManager:
        # Weights stay float32; matmuls run in the half type, as mixed-precision serving does.
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(self.device).type, dtype=self.dtype)

    def encode(self, requests: list[dict[str, Any]]):
        from model.encoding import encode

        cfg = self.manifest.encoding
        questions = [r["inputs"].get("question") or "" for r in requests]
        passages = [r["inputs"].get("context") or r["inputs"]["text"] for r in requests]
        return encode(self.tokenizer, questions, passages, max_length=cfg.max_length, stride=cfg.stride,
                      max_question_tokens=cfg.max_question_tokens).to(self.device)

    def heads_of(self, request: dict[str, Any]) -> list[str]:
        target = self.catalog.target_of(request)
        return [h for h in self.catalog.heads if h == target or h in self.catalog.expected_others(request)]


class InProcess(MicroBatcher):
    """The whole multi-task model in this process: one backbone pass per batch."""

    def __init__(self, checkpoint: Path, max_batch_size: int, wait_s: float, torch_threads: int | None,
                 device: str = "cpu", dtype: str = "float32"):
        super().__init__(max_batch_size, wait_s, torch_threads)
        from model.checkpoint import load_model

        self.loaded = _Loaded(checkpoint, device, dtype)
        self.model = load_model(checkpoint)[0].to(device).eval()

    @torch.no_grad()
    def predict(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        wanted = [self.loaded.heads_of(r) for r in requests]
        union = [h for h in self.loaded.catalog.heads if any(h in w for w in wanted)]
        with self.loaded.autocast():
            outputs = run_heads(self.model, self.loaded.encode(requests), self.loaded.tokenizer, union)
        return [{h: outputs[h][i] for h in w} for i, w in enumerate(wanted)]


class PerTaskModels(MicroBatcher):
    """One full model (a backbone copy + one head) per head; a request runs every model it needs,
    each tokenising and encoding the input itself, as separately deployed models would."""

    def __init__(self, checkpoint: Path, max_batch_size: int, wait_s: float, torch_threads: int | None,
                 device: str = "cpu", dtype: str = "float32", heads: list[str] | None = None):
        super().__init__(max_batch_size, wait_s, torch_threads)
        from model.checkpoint import load_backbone, load_head
        from model.multitask import MultiTaskModel

        self.loaded = _Loaded(checkpoint, device, dtype)
        manifest = self.loaded.manifest
        self.models = {}
        for name in heads or self.loaded.catalog.heads:
            backbone = load_backbone(checkpoint, manifest)  # a separate copy of the weights per model
            head = load_head(checkpoint, name, manifest, word_embeddings=backbone.get_input_embeddings())
            self.models[name] = MultiTaskModel(backbone, {name: head}, manifest.backbone_info).to(device).eval()

    @torch.no_grad()
    def predict(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        wanted = [self.loaded.heads_of(r) for r in requests]
        answers: list[dict[str, Any]] = [{} for _ in requests]
        for name, model in self.models.items():
            members = [i for i, w in enumerate(wanted) if name in w]
            if not members:
                continue
            with self.loaded.autocast():
                outputs = run_heads(model, self.loaded.encode([requests[i] for i in members]), self.loaded.tokenizer, [name])[name]
            for i, output in zip(members, outputs):
                answers[i][name] = output
        return answers


class ModelOnly:
    """The ceiling every other mode is a fraction of: the backbone and the requested heads called
    on batches tokenised beforehand, back to back in a loop: no queue, no decoding to text, no
    host work between passes but the loop itself. A cell at concurrency c runs batches of
    min(c, max batch size) inputs, the most a batching stage could gather there. Generative heads
    generate as in serving (to EOS or max_target_tokens) and the cell records how many tokens."""

    def __init__(self, checkpoint: Path, max_batch_size: int, torch_threads: int | None, device: str = "cpu", dtype: str = "float32"):
        from model.checkpoint import load_model

        if torch_threads:
            torch.set_num_threads(torch_threads)
        self.loaded = _Loaded(checkpoint, device, dtype)
        self.model = load_model(checkpoint)[0].to(device).eval()
        self.max_batch_size = max_batch_size
        self.generated_tokens: list[float] = []

    async def loop(self, concurrency: int, requests: list[dict[str, Any]], seconds: float) -> LoopResult:
        size = min(concurrency, self.max_batch_size)
        heads = [h for h in self.loaded.catalog.heads if any(h in self.loaded.heads_of(r) for r in requests)]
        batches = [self.loaded.encode([requests[(i + j) % len(requests)] for j in range(size)]) for i in range(0, len(requests), size)]
        return await asyncio.to_thread(self._run, batches, heads, seconds)

    @torch.no_grad()
    def _run(self, batches: list, heads: list[str], seconds: float) -> LoopResult:
        cuda = torch.device(self.loaded.device).type == "cuda"
        result = LoopResult()
        started = time.perf_counter()
        i = 0
        while time.perf_counter() - started < seconds:
            enc = batches[i % len(batches)]
            i += 1
            t0 = time.perf_counter()
            with self.loaded.autocast():
                batch = self.model.encode(enc)
                outputs = [self.model.heads[h](batch) for h in heads]
            if cuda:
                torch.cuda.synchronize()
            ms = (time.perf_counter() - t0) * 1000
            result.latencies_ms.extend([ms] * enc.num_inputs)  # one answer per input: throughput is inputs/s
            for out in outputs:
                sequences = getattr(out, "sequences", None)
                if sequences is not None:
                    self.generated_tokens.append(float((sequences != self.model.info.pad_token_id).sum(-1).float().mean()))
        result.seconds = time.perf_counter() - started
        return result


def run_heads(model, enc, tokenizer, heads: list[str]) -> dict[str, list[dict[str, Any]]]:
    """MultiTaskModel.predict as a serving replica runs it: one backbone pass, then each head's
    forward, and its decoding to text on one thread (model/heads/decoding.py single_threaded says why)."""
    batch = model.encode(enc)
    outputs = {}
    for name in heads:
        head = model.heads[name]
        raw = head(batch)
        with single_threaded(batch.hidden.device):
            outputs[name] = head.decode(raw, batch, tokenizer)
    return outputs


def check_outputs(answer: dict[str, Any], request: dict[str, Any], catalog: Catalog) -> list[str]:
    """An in-process answer is {head: output}; every head the request needs must be there."""
    needed = catalog.expected_others(request) | {catalog.target_of(request)}
    missing = sorted(h for h in needed if not isinstance(answer.get(h), dict))
    return [f"no output from {missing}"] if missing else []
