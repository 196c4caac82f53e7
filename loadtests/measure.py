"""How the benchmark measures, from outside the serving code. Processes (psutil): the cluster's are
this driver's descendants, so the process tree holds them all and none of another cluster's. Cells:
each round visits every cell and each cell every mode, for a share of the cell's time, so a burst of
other load lands on all alike and the ratios hold; a mode's CPU is its processes' CPU seconds before
and after each cell, per request, less what they spend with no request at all."""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import psutil
from pydantic import BaseModel

from loadtests.results import CPU, CPU_PER_S, TOTAL, WITH_BACKGROUND, Cell, CellResult, Plan, summarize
from loadtests.traffic import Call, Run, closed_loop, with_heads

# A process title -> its role, for the processes that are no replica of the application.
ROLES = {"ProxyActor": "http_proxy", "ServeController": "serve_controller", "raylet": "ray_system", "gcs_server": "ray_system"}


def ours() -> list[psutil.Process]:
    """This process, then its descendants."""
    me = psutil.Process()
    try:
        return [me, *me.children(recursive=True)]
    except psutil.Error:
        return [me]


def cmdline(p: psutil.Process) -> str:
    """The command line of `p`; "" once it has exited."""
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def cpu_s(p: psutil.Process, children: bool = False) -> float:
    """CPU seconds `p` used so far (with its reaped children's); 0 once it has exited."""
    try:
        t = p.cpu_times()
    except psutil.Error:
        return 0.0
    return t.user + t.system + (t.children_user + t.children_system if children else 0.0)


def role(command: str, app: str) -> str | None:
    """Which part of `app`'s serving path a process is: a deployment (head replicas summed as
    "heads"), Serve's proxy or controller, or Ray's own; Ray titles a replica `...ServeReplica:<app>:<deployment>`."""
    marker = f"ServeReplica:{app}:"
    if marker in command:
        deployment = command.split(marker, 1)[1].split(".", 1)[0].split()[0]
        return "heads" if deployment.startswith("head_") else deployment
    return next((name for title, name in ROLES.items() if title in command), None)


def cpu_by_role(app: str) -> dict[str, float]:
    """CPU seconds used so far by each part of `app`'s serving path (not the clients' process)."""
    totals: Counter[str] = Counter()
    for p in ours()[1:]:
        if (found := role(cmdline(p), app)) is not None:
            totals[found] += cpu_s(p)
    return dict(totals)


def own_cpu() -> dict[str, float]:
    """CPU seconds used so far by this process: an in-process mode's engine and its clients."""
    return {"benchmark process": cpu_s(psutil.Process())}


def label(p: psutil.Process, cmd: list[str]) -> str:
    """`replica:backbone`, `ray::ServeController`, `raylet`, `gcs_server`, ... (stable across restarts)."""
    first = cmd[0] if cmd else p.name()
    if first.startswith("ray::"):
        # e.g. ray::SERVE_REPLICA::wiyh#backbone#8loxorpz:ServeReplica:wiyh:backbone.encode (method while busy)
        replica = re.search(r"ServeReplica:[^:\s]+:([A-Za-z0-9_-]+)", first)
        if replica:
            return "replica:" + replica.group(1)
        return "ray::" + (first.removeprefix("ray::").split()[0].split(".")[0] if first.strip() != "ray::" else "idle")
    base = os.path.basename(first)
    if base.startswith("python") and len(cmd) > 1:  # dashboard, log monitor, ... started as scripts
        return next((os.path.basename(a) for a in cmd[1:] if a.endswith(".py")), base).removesuffix(".py")
    return base


class RssSample(BaseModel):
    t: float  # seconds since sampling started
    total_mb: float
    by_process: dict[str, float]  # label -> MiB (replicas of one deployment summed)
    processes: int


def rss(t: float, app: str | None = None) -> RssSample:
    """Resident memory of this process's descendants, or of `app`'s replicas only (shared pages
    count once per process, as they do for separate models)."""
    by: Counter[str] = Counter()
    count = 0
    for p in ours()[1:]:
        try:
            cmd = p.cmdline()
            if app is not None and f"ServeReplica:{app}:" not in " ".join(cmd):
                continue
            by[label(p, cmd)] += p.memory_info().rss / 2**20
        except psutil.Error:
            continue  # exited between the listing and the read (a replaced replica)
        count += 1
    rounded = {k: round(v, 1) for k, v in by.most_common()}
    return RssSample(t=round(t, 2), total_mb=round(sum(rounded.values()), 1), by_process=rounded, processes=count)


class Sampler:
    """`rss(t, app)` every `every_s` seconds from a thread while the block runs, and once at its end."""

    def __init__(self, app: str | None = None, every_s: float = 0.5):
        self.app, self.every_s = app, every_s
        self.samples: list[RssSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def peak(self) -> float:
        return max((s.total_mb for s in self.samples), default=0.0)

    def __enter__(self) -> "Sampler":
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(rss(time.monotonic() - self._t0, self.app))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(rss(time.monotonic() - self._t0, self.app))
            self._stop.wait(self.every_s)


class ForeignLoad:
    """The share of the machine's CPU (0..1) that processes outside this run and its descendants
    used meanwhile: whether a row can be trusted on a shared box."""

    share: float = 0.0

    def __enter__(self) -> "ForeignLoad":
        self._start = self._reading()
        return self

    def __exit__(self, *exc: object) -> None:
        wall, busy, mine = (end - start for end, start in zip(self._reading(), self._start))
        self.share = max(0.0, busy - mine) / (max(wall, 1e-9) * (psutil.cpu_count() or 1))

    @staticmethod
    def _reading() -> tuple[float, float, float]:
        """Now, the machine's busy CPU seconds, and this run's (descendants included)."""
        t = psutil.cpu_times()
        return time.monotonic(), t.user + t.system + getattr(t, "nice", 0.0), sum(cpu_s(p, children=True) for p in ours())


def gpu_memory_used_mib() -> float:
    """Memory in use on GPU 0 as nvidia-smi reports it (every process's, ours included)."""
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                         capture_output=True, text=True, timeout=10)
    return float(out.stdout.strip() or 0)


Reading = dict[str, float]  # {process: CPU seconds so far}


def requests_for(cell: Cell, plan: Plan, base: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All heads with each input's own task, or the sweep order's first `cell.heads` (the first the
    target); a batch cell's requests are {"items": [...]} of `cell.items` of those, round the inputs."""
    requests = base
    if cell.heads:
        target, *others = plan.head_order[: cell.heads]
        requests = [with_heads(b, target, others) for b in base]
    if not cell.items:
        return requests
    n = len(requests)
    return [{"items": [requests[(i * cell.items + j) % n] for j in range(cell.items)]} for i in range(n)]


def per_request(before: Reading, after: Reading, requests: int, idle: Reading, seconds: float) -> dict[str, float]:
    """CPU ms per request by process between two readings, less each process's `idle` rate over the
    `seconds` between them: a slow cell does not bill its background to its few requests."""
    requests = max(requests, 1)
    spent = {role: end - before.get(role, end) for role, end in after.items()}
    out = {role: (used - idle.get(role, 0.0) * seconds) * 1000 / requests for role, used in spent.items()}
    out[TOTAL] = sum(out.values())
    out[WITH_BACKGROUND] = sum(spent.values()) * 1000 / requests
    return out


@dataclass
class Target:
    """One mode as the runner sees it: how to call it; `breakdown`: means of the answers' timings
    since the last read; `cpu`: CPU seconds so far of every process of the mode (blocking)."""

    call: Call
    breakdown: Callable[[], dict[str, float]] | None = None
    cpu: Callable[[], Reading] | None = None
    # a mode measured by its own loop, not clients' calls: (concurrency, requests, seconds) -> what it did
    loop: Callable[[int, list[dict[str, Any]], float], Awaitable[Run]] | None = None


@dataclass
class _Rounds:
    run: Run = field(default_factory=lambda: Run([], 0.0))  # every round's answers and wall time
    busy: list[tuple[float, float]] = field(default_factory=list)  # (foreign share, seconds)
    problems: list[str] = field(default_factory=list)
    timings: list[dict[str, float]] = field(default_factory=list)
    cpu_ms: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # by process, summed over requests
    cpu_requests: int = 0
    cpu_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # by process, all of it

    def result(self, cell: Cell) -> CellResult:
        latencies, seconds = self.run.latencies_ms, max(self.run.seconds, 1e-9)
        foreign = sum(share * secs for share, secs in self.busy) / seconds
        details = {k: sum(t.get(k, 0.0) for t in self.timings) / len(self.timings) for k in self.timings[0]} if self.timings else {}
        details.update({f"{CPU}{role}": round(ms / max(self.cpu_requests, 1), 3) for role, ms in self.cpu_ms.items()})
        details.update({f"{CPU_PER_S}{role}": round(s * 1000 / seconds, 3) for role, s in self.cpu_s.items()})
        return CellResult(cell=cell, summary=summarize(latencies, self.run.seconds, self.run.failures), foreign_cpu=round(foreign, 3),
                          latencies_ms=[round(x, 2) for x in latencies], problems=self.problems[:5], breakdown=details)


async def run_interleaved(targets: dict[str, Target], plan: Plan, base: list[dict[str, Any]],
                          watch_idle: bool = True) -> dict[str, list[CellResult]]:
    """Every cell of the plan for every mode, `plan.rounds` times, interleaved; with `watch_idle`,
    each mode's CPU with no request is watched first and left out of its CPU per request."""
    for target in targets.values():
        # Warm-up: the first batches pay lazy initialisation (allocator, thread pools, connections).
        if target.loop:
            await target.loop(min(4, plan.warmup_requests), base, 1.0)
        else:
            await closed_loop(target.call, base, min(4, plan.warmup_requests), seconds=3600, max_requests=plan.warmup_requests)
        if target.breakdown:
            target.breakdown()
    share = plan.seconds / plan.rounds
    idle = await _idle_rates(targets, share) if watch_idle else {}
    cells = plan.cells()
    rounds = {(mode, i): _Rounds() for mode in targets for i in range(len(cells))}
    for round_ in range(plan.rounds):
        for i, cell in enumerate(cells):
            for mode, target in targets.items():
                await _measure(mode, target, rounds[(mode, i)], cell, requests_for(cell, plan, base), share,
                               f"round {round_ + 1}/{plan.rounds}", idle.get(mode, {}))
    return {mode: [rounds[(mode, i)].result(cell) for i, cell in enumerate(cells)] for mode in targets}


async def _idle_rates(targets: dict[str, Target], seconds: float) -> dict[str, Reading]:
    """Each mode's processes' CPU seconds per second while nothing is sent, watched as long as a cell."""
    rates = {}
    for mode, target in targets.items():
        if not target.cpu:
            continue
        before = await asyncio.to_thread(target.cpu)
        await asyncio.sleep(seconds)
        after = await asyncio.to_thread(target.cpu)
        rates[mode] = {role: max(0.0, end - before.get(role, end)) / max(seconds, 1e-9) for role, end in after.items()}
        print(f"  {mode}: background CPU with no request " + ", ".join(f"{k} {v * 1000:.0f} ms/s" for k, v in rates[mode].items()), flush=True)
    return rates


async def _measure(mode: str, target: Target, rounds: _Rounds, cell: Cell, requests: list[dict[str, Any]], seconds: float,
                   label: str, idle: Reading) -> None:
    t0 = time.monotonic()
    cpu_before = await asyncio.to_thread(target.cpu) if target.cpu else {}
    with ForeignLoad() as load:
        if target.loop and cell.items:  # the model alone: the items as inputs, as many in flight as the clients' batches hold
            measured = await target.loop(cell.concurrency * cell.items, [i for r in requests for i in r["items"]], seconds)
        elif target.loop:
            measured = await target.loop(cell.concurrency, requests, seconds)
        else:
            measured = await closed_loop(target.call, requests, cell.concurrency, seconds)
    rounds.problems += measured.problems
    if not target.loop:  # count items: an answered batch is that many answers, a failed one that many failures
        measured.outcomes = [o for o in measured.outcomes for _ in range(cell.items or 1)]
    rounds.run.outcomes += measured.outcomes
    rounds.run.seconds += measured.seconds
    rounds.busy.append((load.share, measured.seconds))
    if target.breakdown and (timings := target.breakdown()):
        rounds.timings.append(timings)
    if target.cpu:
        done = len(measured.outcomes)
        cpu_after = await asyncio.to_thread(target.cpu)
        for role, end in cpu_after.items():
            rounds.cpu_s[role] += end - cpu_before.get(role, end)
        for role, ms in per_request(cpu_before, cpu_after, done, idle, measured.seconds).items():
            rounds.cpu_ms[role] += ms * done
        rounds.cpu_requests += done
    print(f"  {label} {cell.label:<14} {mode:<10} {len(measured.latencies_ms) / measured.seconds:6.1f} req/s  failed {measured.failures}  "
          f"other load {load.share:.0%}  ({time.monotonic() - t0:.0f} s)"
          + (f"  first problem: {measured.problems[0]}" if measured.problems else ""), flush=True)
