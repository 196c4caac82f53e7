"""Running a plan's cells against one mode: the same requests, warm-up and timing for every mode."""
from __future__ import annotations

import time
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


async def run_cells(mode: str, call: Call, plan: Plan, base: list[dict[str, Any]],
                    breakdown: Callable[[], dict[str, float]] | None = None,
                    cpu: Callable[[], dict[str, float]] | None = None) -> list[CellResult]:
    """Every cell of the plan; `breakdown` gives means of the answers' timings since its last
    call, `cpu` CPU seconds so far per part of the serving path (both optional)."""
    # Warm-up: the first batches pay lazy initialisation (allocator, thread pools, connections).
    await closed_loop(call, base, min(4, plan.warmup_requests), seconds=3600, max_requests=plan.warmup_requests)
    if breakdown:
        breakdown()
    results = []
    for cell in plan.cells():
        requests = requests_for(cell, plan, base)
        t0 = time.monotonic()
        cpu_before = cpu() if cpu else {}
        with ForeignLoad() as load:
            measured = await closed_loop(call, requests, cell.concurrency, plan.seconds)
        s = summarize(measured.latencies_ms, measured.seconds, measured.failures)
        details = breakdown() if breakdown else {}
        if cpu:
            answered = max(s.requests + s.failures, 1)
            details.update({f"cpu_ms_per_request.{role}": round((used - cpu_before.get(role, 0.0)) * 1000 / answered, 2)
                            for role, used in cpu().items()})
        result = CellResult(cell=cell, summary=s, foreign_cpu=round(load.share, 3), latencies_ms=[round(x, 2) for x in measured.latencies_ms],
                            problems=measured.problems, breakdown=details)
        results.append(result)
        print(f"  {mode:<10} {cell.label:<16} {s.throughput:7.1f} req/s  p50 {s.p50_ms:7.0f} ms  p99 {s.p99_ms:7.0f} ms  "
              f"failed {s.failures}  other load {load.share:.0%}  ({time.monotonic() - t0:.0f} s)"
              + (f"  first problem: {measured.problems[0]}" if measured.problems else ""), flush=True)
    return results
