"""Serving-path benchmark: p50 / p99 latency at concurrency 1 and throughput at concurrency 16,
for every head as a replica, every head colocated with the backbone, the mix (linear heads
colocated, generative heads as replicas), and the model called in one process with the same
batching (no HTTP, no Ray): the serving overhead is the gap.

    python -m service.bench                        # checkpoints/quick, or a random quick-sized one
    python -m service.bench --checkpoint DIR --requests 40 --modes inprocess,colocated

Every request asks for every head (the paper's full response). Not a test: numbers depend on the
machine and on what else runs; compare rows of one run only. The load generator shares the CPU
with the service, as a client on the same 2-core machine would.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
MODES = ("inprocess", "replica", "colocated", "mixed")


@dataclass
class Row:
    mode: str
    p50_c1: float
    p99_c1: float
    throughput_c16: float
    p50_c16: float
    breakdown: dict[str, float] = field(default_factory=dict)
    foreign_cpu: float = 0.0  # share of the machine other processes used meanwhile (0..1)


class ForeignLoad:
    """How much CPU processes outside this benchmark (and the Ray it started) used: a number that
    says whether a row can be trusted on a shared machine."""

    def __enter__(self) -> "ForeignLoad":
        self.start = (time.monotonic(), self._busy(), self._ours())
        return self

    def __exit__(self, *exc) -> None:
        wall, busy, ours = time.monotonic() - self.start[0], self._busy() - self.start[1], self._ours() - self.start[2]
        self.share = max(0.0, busy - ours) / (wall * (psutil.cpu_count() or 1))

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return t.user + t.system + getattr(t, "nice", 0.0)

    @staticmethod
    def _ours() -> float:
        total = 0.0
        me = psutil.Process()
        for p in [me, *me.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                pass
        return total


def sample_requests(n: int) -> list[dict[str, Any]]:
    from training.data.synthetic import generate

    examples = [e for s in ("numeric", "multihop", "qa_summary") for e in generate(s, n, seed=11)]
    out = []
    for e in examples[: max(n, 1) * 3]:
        inputs = {"question": e.question, "context": e.context} if e.question else {"text": e.context}
        out.append({"task": e.task, "inputs": inputs})
    return out


async def measure(call: Callable[[dict], Awaitable[dict]], requests: list[dict], concurrency: int, count: int) -> tuple[list[float], float, list[dict]]:
    """Latencies (ms) of `count` requests sent by `concurrency` workers, wall time, and bodies."""
    latencies: list[float] = []
    bodies: list[dict] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            request = requests[next_index % len(requests)]
            next_index += 1
            started = time.perf_counter()
            bodies.append(await call(request))
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started, bodies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run_mode(name: str, call: Callable[[dict], Awaitable[dict]], requests: list[dict], count: int) -> Row:
    await measure(call, requests, 4, 8)  # warm-up: first batches pay lazy initialisation
    with ForeignLoad() as load:
        c1, _, bodies = await measure(call, requests, 1, count)
        c16, wall, c16_bodies = await measure(call, requests, 16, count * 2)
    breakdown: dict[str, float] = {}
    timed = [b["timings_ms"] for b in bodies if "timings_ms" in b]
    if timed:
        breakdown = {
            "router_total": statistics.mean(t["total"] for t in timed),
            "backbone_call": statistics.mean(t["backbone"] for t in timed),
            "backbone_forward": statistics.mean(t["backbone_forward"] for t in timed),
            "slowest_head_call": statistics.mean(max(t["heads"].values(), default=0.0) for t in timed),
            "backbone_batch_c16": statistics.mean(b["timings_ms"]["backbone_batch_inputs"] for b in c16_bodies),
        }
    return Row(name, statistics.median(c1), percentile(c1, 0.99), len(c16) / wall, statistics.median(c16), breakdown, load.share)


class InProcess:
    """MultiTaskModel behind an asyncio micro-batcher with the backbone's batch size and wait."""

    def __init__(self, checkpoint: Path, max_batch_size: int, wait_s: float, threads: int | None):
        import torch

        from training.checkpoint import load_model

        if threads:
            torch.set_num_threads(threads)
        self.model, self.tokenizer, self.manifest = load_model(checkpoint)
        self.max_batch_size, self.wait_s = max_batch_size, wait_s
        self.queue: asyncio.Queue = asyncio.Queue()
        self.worker: asyncio.Task | None = None

    async def __call__(self, request: dict) -> dict:
        if self.worker is None:
            self.worker = asyncio.create_task(self._loop())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((request, future))
        return await future

    async def _loop(self) -> None:
        while True:
            batch = [await self.queue.get()]
            deadline = time.perf_counter() + self.wait_s
            while len(batch) < self.max_batch_size:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            answers = await asyncio.to_thread(self._predict, [r for r, _ in batch])
            for (_, future), answer in zip(batch, answers):
                future.set_result(answer)

    def _predict(self, requests: list[dict]) -> list[dict]:
        from training.model.encoding import encode

        cfg = self.manifest.encoding
        questions = [r["inputs"].get("question", "") for r in requests]
        passages = [r["inputs"].get("context") or r["inputs"]["text"] for r in requests]
        enc = encode(self.tokenizer, questions, passages, cfg.max_length, cfg.stride, cfg.max_question_tokens)
        outputs = self.model.predict(enc, self.tokenizer)
        return [{head: outs[i] for head, outs in outputs.items()} for i in range(len(requests))]


class ServeMode:
    """The Serve app deployed with the given placement, called over HTTP."""

    def __init__(self, url: str):
        import httpx

        self.client = httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=32))

    async def __call__(self, request: dict) -> dict:
        r = await self.client.post("/v1/predict", json=request)
        if r.status_code != 200:
            raise RuntimeError(f"{r.status_code}: {r.text[:300]}")
        return r.json()


def mode_args(base: dict, mode: str, checkpoint: Path, kinds: dict[str, str]) -> dict:
    """The deploy config's settings with one replica per stage (autoscaling would blur the rows)
    and the mode's placement for every head (`kinds`: head -> kind)."""
    args = yaml.safe_load(yaml.safe_dump(base))  # a deep copy
    args["checkpoint"] = str(checkpoint)
    single = {"autoscaling": None, "num_replicas": 1}
    args["router"].update(single)
    args["backbone"].update(single)
    args["heads"]["default"].update(single)
    placement = {
        "replica": lambda kind: "replica",
        "colocated": lambda kind: "colocated",
        "mixed": lambda kind: "replica" if kind == "generative" else "colocated",
    }[mode]
    args["heads"]["overrides"] = {head: {"placement": placement(kind)} for head, kind in kinds.items()}
    return args


def serve_rows(checkpoint: Path, modes: list[str], base: dict, requests: list[dict], count: int) -> list[Row]:
    import httpx
    import ray
    from ray import serve

    from service.app import build_app
    from training.checkpoint import read_manifest

    kinds = {h.name: h.kind for h in read_manifest(checkpoint).heads}
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    rows = []
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": 8765})
        for mode in modes:
            serve.run(build_app(mode_args(base, mode, checkpoint, kinds)), name="bench", route_prefix="/")
            deadline = time.monotonic() + 180
            while httpx.get("http://127.0.0.1:8765/health/ready", timeout=5).status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{mode}: the app did not become ready in 180 s")
                time.sleep(0.5)
            caller = ServeMode("http://127.0.0.1:8765")
            rows.append(asyncio.run(run_mode(mode, caller, requests, count)))
            print(f"  {mode}: done", flush=True)
            serve.delete("bench")
    finally:
        serve.shutdown()
        ray.shutdown()
    return rows


def print_table(rows: list[Row], checkpoint: Path) -> None:
    base = next((r for r in rows if r.mode == "inprocess"), None)
    print(f"\ncheckpoint: {checkpoint}   (every request asks every head)")
    print(f"{'mode':<11} {'p50 c=1 ms':>11} {'p99 c=1 ms':>11} {'req/s c=16':>11} {'p50 c=16 ms':>12} {'vs in-process':>14} {'other load':>11}")
    for r in rows:
        ratio = f"{r.throughput_c16 / base.throughput_c16:.2f}x" if base and r is not base else ""
        print(f"{r.mode:<11} {r.p50_c1:>11.1f} {r.p99_c1:>11.1f} {r.throughput_c16:>11.1f} {r.p50_c16:>12.1f} {ratio:>14} {r.foreign_cpu:>10.0%}")
    if any(r.foreign_cpu > 0.1 for r in rows):
        print("warning: other processes used over 10% of the CPU during some rows; rerun on a quiet machine")
    if base:
        for r in rows:
            if r is not base:
                print(f"  {r.mode}: p50 overhead at c=1 vs in-process: {r.p50_c1 - base.p50_c1:+.1f} ms")
    print("\nwhere the time goes at c=1 (mean ms, from the responses' timings_ms):")
    for r in rows:
        if r.breakdown:
            print(f"  {r.mode:<10} " + "  ".join(f"{k}={v:.1f}" for k, v in r.breakdown.items()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: checkpoints/quick, else a random quick-sized one")
    parser.add_argument("--config", type=Path, default=ROOT / "deploy" / "serve_config.yaml")
    parser.add_argument("--requests", type=int, default=40, help="requests at concurrency 1 (twice as many at 16)")
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown modes {unknown}; valid: {list(MODES)}")

    base = yaml.safe_load(args.config.read_text())["applications"][0]["args"]
    checkpoint = args.checkpoint or ROOT / "checkpoints" / "quick"
    if not (checkpoint / "manifest.json").is_file():
        from training.testing import make_random_checkpoint

        checkpoint = Path(tempfile.mkdtemp(prefix="wiyh-bench-")) / "quick-random"
        print(f"no trained checkpoint given: writing a random one with the quick preset's sizes to {checkpoint}")
        make_random_checkpoint(checkpoint, preset="quick")
    requests = sample_requests(args.requests)
    rows = []
    if "inprocess" in modes:
        batching = base["backbone"]["batching"]
        engine = InProcess(checkpoint, batching["max_batch_size"], batching["batch_wait_timeout_s"], base["backbone"].get("torch_threads"))
        rows.append(asyncio.run(run_mode("inprocess", engine, requests, args.requests)))
        print("  inprocess: done", flush=True)
        del engine
    served = [m for m in modes if m != "inprocess"]
    if served:
        rows.extend(serve_rows(checkpoint, served, base, requests, args.requests))
    print_table(rows, checkpoint)


if __name__ == "__main__":
    main()
