"""Running a plan's cells against the modes: the same requests, warm-up and timing for every mode.

Interleaved: each round visits every cell, and each cell every mode, for a share of the cell's time,
so a burst of other people's load lands on all modes and cells alike and the ratios hold.

Where a mode's CPU goes is read from outside the serving code (docs/service.md, Host cost per
request): each of its processes' CPU seconds so far (processes.py), before and after each cell;
per request, less what each process spends with no request at all."""
from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from loadtests.inputs import with_heads
from loadtests.loop import Call, Run, closed_loop
from loadtests.processes import ForeignLoad
from loadtests.results import Cell, CellResult, Plan
from loadtests.stats import summarize

Reading = dict[str, float]  # {process: CPU seconds so far}
# a cell's breakdown keys: CPU ms per request of one process of the mode, less what it spends with
# no request (TOTAL sums them, WITH_BACKGROUND with the background left in); CPU ms per second of
# one process, all of it
CPU = "cpu_ms_per_request."
CPU_PER_S = "cpu_ms_per_second."
TOTAL = "total"
WITH_BACKGROUND = "total with background"


def requests_for(cell: Cell, plan: Plan, base: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All heads with each input's own task; or, in the sweep, the first `cell.heads` heads of
    the sweep order, the first one answering. A batch cell's requests are {"items": [...]}, each
    of `cell.items` of those, going round the inputs."""
    requests = base
    if cell.heads:
        target, *others = plan.head_order[: cell.heads]
        requests = [with_heads(b, target, others) for b in base]
    if not cell.items:
        return requests
    n = len(requests)
    return [{"items": [requests[(i * cell.items + j) % n] for j in range(cell.items)]} for i in range(n)]


def per_request(before: Reading, after: Reading, requests: int, idle: dict[str, float] | None = None,
                seconds: float = 0.0) -> dict[str, float]:
    """CPU ms per request by process between two readings, less each process's `idle` rate (CPU
    seconds per second) over the `seconds` between them, so a slow cell does not bill its long wall
    time's background (health checks, metrics pushes, the controller's polling) to its few requests."""
    requests = max(requests, 1)
    spent = {role: end - before.get(role, end) for role, end in after.items()}
    out = {role: (used - (idle or {}).get(role, 0.0) * seconds) * 1000 / requests for role, used in spent.items()}
    out[TOTAL] = sum(out.values())
    out[WITH_BACKGROUND] = sum(spent.values()) * 1000 / requests
    return out


@dataclass
class Target:
    """One mode as the runner sees it: how to call it, and optionally where its time went
    (`breakdown`: means of the answers' timings since the last read; `cpu`: CPU seconds so far of
    every process of the mode; blocking, run in a thread)."""

    call: Call
    breakdown: Callable[[], dict[str, float]] | None = None
    cpu: Callable[[], Reading] | None = None
    # a mode measured by its own loop instead of clients' calls (the model-only ceiling):
    # (concurrency, requests, seconds) -> what it did
    loop: Callable[[int, list[dict[str, Any]], float], Awaitable[Run]] | None = None


@dataclass
class _Rounds:
    """One cell of one mode, its rounds summed."""

    run: Run = field(default_factory=lambda: Run([], 0.0))  # every round's answers and wall time
    busy: list[tuple[float, float]] = field(default_factory=list)  # (foreign share, seconds)
    problems: list[str] = field(default_factory=list)
    timings: list[dict[str, float]] = field(default_factory=list)
    cpu_ms: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # by process, summed over requests
    cpu_requests: int = 0
    cpu_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # by process, all of it

    def result(self, cell: Cell) -> CellResult:
        latencies = self.run.latencies_ms
        summary = summarize(latencies, self.run.seconds, self.run.failures)
        foreign = sum(share * secs for share, secs in self.busy) / max(self.run.seconds, 1e-9)
        details = {k: sum(t.get(k, 0.0) for t in self.timings) / len(self.timings) for k in self.timings[0]} if self.timings else {}
        details.update({f"{CPU}{role}": round(ms / max(self.cpu_requests, 1), 3) for role, ms in self.cpu_ms.items()})
        details.update({f"{CPU_PER_S}{role}": round(s * 1000 / max(self.run.seconds, 1e-9), 3) for role, s in self.cpu_s.items()})
        return CellResult(cell=cell, summary=summary, foreign_cpu=round(foreign, 3), latencies_ms=[round(x, 2) for x in latencies],
                          problems=self.problems[:5], breakdown=details)


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
    results = {mode: [rounds[(mode, i)].result(cell) for i, cell in enumerate(cells)] for mode in targets}
    for mode, rows in results.items():
        for r in rows:
            s = r.summary
            print(f"  {mode:<10} {r.cell.label:<16} {s.throughput:7.1f} req/s  p50 {s.p50_ms:7.0f} ms  p99 {s.p99_ms:7.0f} ms  "
                  f"failed {s.failures}  other load {r.foreign_cpu:.0%}", flush=True)
    return results


async def _idle_rates(targets: dict[str, Target], seconds: float) -> dict[str, dict[str, float]]:
    """Each mode's processes' CPU seconds per second while nothing is sent, watched for as long as
    a cell between the same two readings as a cell's, one mode after another (every mode's reading
    includes the benchmark's own process or the Serve processes the modes share)."""
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
                   label: str, idle: dict[str, float] | None = None) -> None:
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
    problems = measured.problems
    print(f"  {label} {cell.label:<14} {mode:<10} {len(measured.latencies_ms) / measured.seconds:6.1f} req/s  failed {measured.failures}  "
          f"other load {load.share:.0%}  ({time.monotonic() - t0:.0f} s)" + (f"  first problem: {problems[0]}" if problems else ""), flush=True)


async def run_cells(mode: str, call: Call, plan: Plan, base: list[dict[str, Any]],
                    breakdown: Callable[[], dict[str, float]] | None = None, cpu: Callable[[], Reading] | None = None) -> list[CellResult]:
    """One mode alone (the in-process modes' memory probes)."""
    return (await run_interleaved({mode: Target(call, breakdown, cpu)}, plan, base))[mode]
