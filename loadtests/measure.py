"""How a cell is measured: a closed loop of `concurrency` clients for a fixed time, the CPU other
people's processes used meanwhile, and the memory of the processes that serve."""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import psutil


# A call returns the problems found with its answer ([] = a valid answer).
Call = Callable[[dict[str, Any]], Awaitable[list[str]]]


@dataclass
class LoopResult:
    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0
    problems: list[str] = field(default_factory=list)  # the first few, to say what failed
    seconds: float = 0.0


async def closed_loop(call: Call, requests: list[dict[str, Any]], concurrency: int, seconds: float,
                      max_requests: int | None = None) -> LoopResult:
    """`concurrency` clients send back to back until `seconds` have passed (or `max_requests` were
    sent); the requests in flight then finish and count. Throughput = answers / wall time."""
    result = LoopResult()
    sent = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def client() -> None:
        nonlocal sent
        while time.perf_counter() < deadline and (max_requests is None or sent < max_requests):
            request = requests[sent % len(requests)]
            sent += 1
            t0 = time.perf_counter()
            try:
                problems = await call(request)
            except Exception as err:  # a transport error is a failed request, not a crashed run
                problems = [f"{type(err).__name__}: {err}"]
            if problems:
                result.failures += 1
                if len(result.problems) < 5:
                    result.problems.extend(problems[:1])
            else:
                result.latencies_ms.append((time.perf_counter() - t0) * 1000)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


class ForeignLoad:
    """The share of the machine's CPU (0..1) that processes outside this benchmark and its
    children (Ray included) used meanwhile: says whether a row can be trusted on a shared box."""

    share: float = 0.0

    def __enter__(self) -> "ForeignLoad":
        self._start = (time.monotonic(), self._busy(), self._ours())
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.monotonic() - self._start[0]
        busy, ours = self._busy() - self._start[1], self._ours() - self._start[2]
        self.share = max(0.0, busy - ours) / (max(wall, 1e-9) * (psutil.cpu_count() or 1))

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


def _ours() -> list[psutil.Process]:
    """This process and its descendants: the Ray this benchmark started (raylet, GCS, workers),
    never another session's cluster on the same machine."""
    me = psutil.Process()
    try:
        return [me, *me.children(recursive=True)]
    except psutil.Error:
        return [me]


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def serve_replica_rss(app: str) -> float:
    """MiB resident in the Serve replica processes (router, backbone, heads) of `app`: Ray names
    a replica's process `ray::ServeReplica:<app>:<deployment>`. Shared pages (torch's libraries)
    count once per process, as they do for separate models."""
    total = 0
    for p in _ours():
        try:
            if f"ServeReplica:{app}:" in _cmdline(p):
                total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def gpu_memory_used_mib() -> float:
    """Memory in use on GPU 0 as nvidia-smi reports it (every process's, ours included)."""
    import subprocess

    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                         capture_output=True, text=True, timeout=10)
    return float(out.stdout.strip() or 0)


def _role(cmdline: str, app: str) -> str | None:
    """Which part of the serving path a process is, from the title Ray gives it."""
    marker = f"ServeReplica:{app}:"
    if marker in cmdline:
        deployment = cmdline.split(marker, 1)[1].split(".", 1)[0].split()[0]
        return "heads" if deployment.startswith("head_") else deployment
    if "ProxyActor" in cmdline:
        return "http_proxy"
    if "ServeController" in cmdline:
        return "serve_controller"
    if "raylet" in cmdline or "gcs_server" in cmdline:
        return "ray_system"
    return None


def cpu_by_role(app: str) -> dict[str, float]:
    """CPU seconds used so far by each part of the serving path on the local host: this process
    (the load generator), Serve's proxy and controller, each deployment's replicas (heads summed),
    and Ray's raylet and GCS."""
    totals: dict[str, float] = {}
    me = psutil.Process().pid
    for p in _ours():
        try:
            role = "client" if p.pid == me else _role(_cmdline(p), app)
            if role is None:
                continue
            t = p.cpu_times()
            totals[role] = totals.get(role, 0.0) + t.user + t.system
        except psutil.Error:
            pass
    return totals


class PeakSampler:
    """The largest value `sample()` returned while the block ran, polled from a thread."""

    def __init__(self, sample: Callable[[], float], every_s: float = 0.5):
        self.sample, self.every_s, self.peak = sample, every_s, 0.0
        self._stop = threading.Event()

    def __enter__(self) -> "PeakSampler":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.sample())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            self._stop.wait(self.every_s)
