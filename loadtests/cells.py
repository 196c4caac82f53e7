"""Running a plan's cells against one mode: the same requests, warm-up and timing for every mode.

Cells run in interleaved rounds (every cell for a share of its time, then every cell again): on a
machine shared with other people's work, a burst of their load then lands on all cells of a mode
alike instead of on one, so comparisons within a mode (the cost of one more head) hold.
"""
from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, Callable

from loadtests.inputs import with_heads
from loadtests.measure import Call, ForeignLoad, closed_loop
from loadtests.results import Cell, CellResult, Plan
from loadtests.stats import summarize


def requests_for(cell: Cell, plan: Plan, base: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All heads with each input's own task; or, in the sweep, the first `cell.heads` heads of
    the sweep order, the first one answering."""
    if not cell.heads:
        return base
    target, *others = plan.head_order[: cell.heads]
    return [with_heads(b, target, others) for b in base]


class _Tally:
    """One cell's measurements summed over rounds."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failures = 0
        self.seconds = 0.0
        self.busy: list[tuple[float, float]] = []  # (foreign share, seconds)
        self.problems: list[str] = []
        self.timings: list[dict[str, float]] = []
        self.cpu: dict[str, float] = defaultdict(float)

    def result(self, cell: Cell) -> CellResult:
        s = summarize(self.latencies, self.seconds, self.failures)
        foreign = sum(share * secs for share, secs in self.busy) / max(self.seconds, 1e-9)
        details = {k: sum(t.get(k, 0.0) for t in self.timings) / len(self.timings) for k in self.timings[0]} if self.timings else {}
        answered = max(s.requests + s.failures, 1)
        details.update({f"cpu_ms_per_request.{role}": round(used * 1000 / answered, 2) for role, used in self.cpu.items()})
        return CellResult(cell=cell, summary=s, foreign_cpu=round(foreign, 3), latencies_ms=[round(x, 2) for x in self.latencies],
                          problems=self.problems[:5], breakdown=details)


async def run_cells(mode: str, call: Call, plan: Plan, base: list[dict[str, Any]],
                    breakdown: Callable[[], dict[str, float]] | None = None,
                    cpu: Callable[[], dict[str, float]] | None = None) -> list[CellResult]:
    """Every cell of the plan, `plan.rounds` times interleaved; `breakdown` gives means of the
    answers' timings since its last call, `cpu` CPU seconds so far per part of the serving path."""
    # Warm-up: the first batches pay lazy initialisation (allocator, thread pools, connections).
    await closed_loop(call, base, min(4, plan.warmup_requests), seconds=3600, max_requests=plan.warmup_requests)
    if breakdown:
        breakdown()
    cells = plan.cells()
    tallies = {i: _Tally() for i in range(len(cells))}
    share = plan.seconds / plan.rounds
    for round_ in range(plan.rounds):
        for i, cell in enumerate(cells):
            tally = tallies[i]
            t0 = time.monotonic()
            cpu_before = cpu() if cpu else {}
            with ForeignLoad() as load:
                measured = await closed_loop(call, requests_for(cell, plan, base), cell.concurrency, share)
            tally.latencies += measured.latencies_ms
            tally.failures += measured.failures
            tally.seconds += measured.seconds
            tally.busy.append((load.share, measured.seconds))
            tally.problems += measured.problems
            if breakdown:
                timings = breakdown()
                if timings:
                    tally.timings.append(timings)
            if cpu:
                for role, used in cpu().items():
                    tally.cpu[role] += used - cpu_before.get(role, 0.0)
            rps = len(measured.latencies_ms) / measured.seconds
            print(f"  {mode:<10} round {round_ + 1}/{plan.rounds} {cell.label:<14} {rps:6.1f} req/s  failed {measured.failures}  "
                  f"other load {load.share:.0%}  ({time.monotonic() - t0:.0f} s)"
                  + (f"  first problem: {measured.problems[0]}" if measured.problems else ""), flush=True)
    results = [tallies[i].result(cell) for i, cell in enumerate(cells)]
    for r in results:
        s = r.summary
        print(f"  {mode:<10} {r.cell.label:<16} {s.throughput:7.1f} req/s  p50 {s.p50_ms:7.0f} ms  p99 {s.p99_ms:7.0f} ms  "
              f"failed {s.failures}  other load {r.foreign_cpu:.0%}", flush=True)
    return results
