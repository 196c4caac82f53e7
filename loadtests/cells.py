"""Running a plan's cells against the modes, interleaved: each round visits every cell, and each
cell every mode, for a share of the cell's time, so a burst of other load lands on all alike and
the ratios hold. A mode's CPU is read from outside the serving code: each of its processes' CPU
seconds before and after each cell, per request, less what it spends with no request at all."""
from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from loadtests.processes import ForeignLoad
from loadtests.results import CPU, CPU_PER_S, TOTAL, WITH_BACKGROUND, Cell, CellResult, Plan, summarize
from loadtests.traffic import Call, Run, closed_loop, with_heads

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
