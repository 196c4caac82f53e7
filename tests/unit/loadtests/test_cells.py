"""The cell runner: interleaved rounds add up to one result per cell, and failures are counted."""
import asyncio
import time

import pytest

from loadtests.measure import Target, requests_for, run_interleaved
from loadtests.traffic import Run, closed_loop
from loadtests.results import Batching, Cell, Plan

PLAN = Plan(checkpoint="ckpt", seconds=0.3, rounds=2, warmup_requests=2, concurrency=[1, 4], head_counts=[1, 2],
            heads_concurrency=2, head_order=["span", "yesno", "number"], linear_heads=2,
            batching=Batching(max_batch_size=4, wait_s=0.0))
BASE = [{"task": "squad", "inputs": {"context": "c"}}]


async def answer(request: dict) -> list[str]:
    await asyncio.sleep(0.005)
    return []


def test_rounds_add_up_to_one_result_per_cell_with_its_cpu_per_request_less_the_background():
    served = {"n": 0}
    started = time.monotonic()

    async def costly(request: dict) -> list[str]:
        served["n"] += 1
        await asyncio.sleep(0.005)
        return []

    def cpu() -> dict[str, float]:
        # the backbone spends 2 ms per answer; the router 50 ms a second whether or not requests come
        return {"backbone": served["n"] * 0.002, "router": (time.monotonic() - started) * 0.05}

    results = asyncio.run(run_interleaved({"test": Target(costly, cpu=cpu)}, PLAN, BASE))["test"]
    assert [r.cell for r in results] == PLAN.cells()
    for r in results:
        assert 0.25 < r.summary.seconds < 0.6  # two rounds of 0.15 s each, plus the requests in flight
        assert r.summary.requests == len(r.latencies_ms) > 0 and r.summary.failures == 0
        assert r.breakdown["cpu_ms_per_request.backbone"] == pytest.approx(2.0)
        assert abs(r.breakdown["cpu_ms_per_request.router"]) < 0.5  # its background is not the requests' cost
        assert r.breakdown["cpu_ms_per_request.total with background"] > r.breakdown["cpu_ms_per_request.total"]
        assert r.breakdown["cpu_ms_per_second.router"] == pytest.approx(50, rel=0.3)  # every process's CPU, background included
    by_cell = {r.cell: r.summary.throughput for r in results}
    assert by_cell[Cell(concurrency=4)] > 2 * by_cell[Cell(concurrency=1)]  # 4 clients, 4x the answers


def test_without_the_idle_watch_the_background_stays_in_and_a_mode_may_send_nothing():
    started = time.monotonic()

    def cpu() -> dict[str, float]:
        return {"router": (time.monotonic() - started) * 0.05}

    async def nothing(concurrency: int, requests: list, seconds: float) -> Run:
        await asyncio.sleep(seconds)
        return Run([], seconds)

    one_cell = PLAN.model_copy(update={"concurrency": [2], "head_counts": []})
    targets = {"idle": Target(call=None, loop=nothing, cpu=cpu), "busy": Target(answer, cpu=cpu)}
    began = time.monotonic()
    results = asyncio.run(run_interleaved(targets, one_cell, BASE, watch_idle=False))
    assert time.monotonic() - began < 2.0  # no idle watch before the cells
    (idle,), (busy,) = results["idle"], results["busy"]
    assert idle.summary.requests == 0 and idle.breakdown["cpu_ms_per_second.router"] == pytest.approx(50, rel=0.3)
    # nothing was taken out: the router's background, per second, shared by the requests answered
    per_request = busy.breakdown["cpu_ms_per_second.router"] / busy.summary.throughput
    assert busy.breakdown["cpu_ms_per_request.router"] == pytest.approx(per_request, rel=0.3)


def test_failed_checks_and_exceptions_are_failures_not_latencies():
    async def flaky(request: dict) -> list[str]:
        if request["n"] % 3 == 0:
            raise ConnectionError("reset")
        return ["no target output"] if request["n"] % 3 == 1 else []

    measured = asyncio.run(closed_loop(flaky, [{"n": i} for i in range(9)], 1, seconds=60, max_requests=9))
    assert measured.failures == 6 and len(measured.latencies_ms) == 3
    assert "ConnectionError: reset" in measured.problems and "no target output" in measured.problems


def test_sweep_cells_ask_for_the_first_heads_of_the_order():
    asked = requests_for(Cell(concurrency=2, heads=2), PLAN, BASE)
    assert asked == [{"target_head": "span", "inputs": {"context": "c"}, "heads": ["yesno"]}]
    assert requests_for(Cell(concurrency=2), PLAN, BASE) is BASE


def test_a_batch_cell_sends_batches_of_the_goal_heads_and_counts_items():
    plan = PLAN.model_copy(update={"batch_items": 3, "batch_concurrency": 1})
    cell = plan.batch_cell()
    assert cell in plan.cells() and (cell.items, cell.heads, cell.concurrency) == (3, 2, 1)
    base = [{"task": "squad", "inputs": {"context": f"c{i}"}} for i in range(2)]
    bodies = requests_for(cell, plan, base)
    assert len(bodies) == 2 and all(len(b["items"]) == 3 for b in bodies)
    assert [i["inputs"]["context"] for i in bodies[0]["items"]] == ["c0", "c1", "c0"]  # round the inputs
    assert all(i["target_head"] == "span" and i["heads"] == ["yesno"] for b in bodies for i in b["items"])

    sizes = []

    async def batch(request: dict) -> list[str]:
        sizes.append(len(request["items"]))
        await asyncio.sleep(0.005)
        return ["item 1: no target output"] if len(sizes) == 1 else []

    only = plan.model_copy(update={"concurrency": [], "head_counts": []})
    (result,) = asyncio.run(run_interleaved({"test": Target(batch)}, only, base))["test"]
    assert set(sizes) == {3}
    assert result.summary.failures == 3  # the failed batch: all of its items
    assert result.summary.requests == 3 * (len(sizes) - 1)  # answers are items (the warm-up sent single requests)
