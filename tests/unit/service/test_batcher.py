"""The batching point of a model stage: a batch forms from what waited once the previous one is
done, is bounded in inputs, fails as a whole, and skips callers that gave up."""
from __future__ import annotations

import asyncio
import time

import pytest

from service.replica.batcher import Batcher


class Stage:
    """A model stage's batch function: records each batch; answers each call with its value x 10."""

    def __init__(self, seconds: float = 0.0, fail: bool = False):
        self.seconds, self.fail = seconds, fail
        self.batches: list[list[int]] = []

    async def __call__(self, calls: list[int]) -> list[int]:
        self.batches.append(list(calls))
        await asyncio.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("the model raised")
        return [c * 10 for c in calls]


async def staggered(batcher: Batcher, calls: list[int], every_s: float = 0.0) -> list:
    async def one(i: int, call: int):
        await asyncio.sleep(i * every_s)
        return await batcher(call)

    return await asyncio.gather(*(one(i, c) for i, c in enumerate(calls)), return_exceptions=True)


def test_calls_that_arrive_while_a_batch_runs_go_together_in_the_next_one():
    stage = Stage(seconds=0.1)
    batcher = Batcher(stage, max_batch_size=16, wait_s=0.0)
    answers = asyncio.run(staggered(batcher, list(range(6)), every_s=0.01))
    assert answers == [0, 10, 20, 30, 40, 50]
    # the first call finds the stage free and runs alone; the rest waited behind it
    assert stage.batches == [[0], [1, 2, 3, 4, 5]]


def test_a_batch_holds_at_most_max_batch_size_inputs_and_a_larger_call_runs_alone():
    stage = Stage(seconds=0.05)
    batcher = Batcher(stage, max_batch_size=4, wait_s=0.5, size=lambda call: call)  # a call of n carries n inputs
    answers = asyncio.run(staggered(batcher, [1, 2, 2, 9, 1]))
    assert answers == [10, 20, 20, 90, 10]
    assert all(sum(b) <= 4 or len(b) == 1 for b in stage.batches)
    assert [9] in stage.batches and sorted(c for b in stage.batches for c in b) == [1, 1, 2, 2, 9]


def test_a_lone_call_waits_at_most_wait_s_for_company():
    stage = Stage()
    batcher = Batcher(stage, max_batch_size=16, wait_s=0.05)

    async def one() -> float:
        t0 = time.monotonic()
        await batcher(1)
        return time.monotonic() - t0

    assert 0.04 < asyncio.run(one()) < 1.0


def test_a_failing_batch_fails_each_of_its_callers_and_the_next_batch_runs():
    stage = Stage(fail=True)
    batcher = Batcher(stage, max_batch_size=16, wait_s=0.02)

    async def scenario():
        failed = await staggered(batcher, [1, 2, 3])
        stage.fail = False
        return failed, await batcher(4)

    failed, after = asyncio.run(scenario())
    assert all(isinstance(f, RuntimeError) for f in failed) and after == 40


def test_a_caller_that_gave_up_is_not_computed():
    stage = Stage(seconds=0.2)
    batcher = Batcher(stage, max_batch_size=16, wait_s=0.0)

    async def scenario():
        first = asyncio.create_task(batcher(1))
        await asyncio.sleep(0.05)  # the first batch runs
        impatient = asyncio.create_task(batcher(2))
        patient = asyncio.create_task(batcher(3))
        await asyncio.sleep(0.01)
        impatient.cancel()  # e.g. its timeout expired while it waited
        return await first, await patient

    assert asyncio.run(scenario()) == (10, 30)
    assert stage.batches == [[1], [3]]


def test_limits_are_checked_and_can_change_in_place():
    with pytest.raises(ValueError, match="max_batch_size"):
        Batcher(Stage(), max_batch_size=0, wait_s=0.0)
    batcher = Batcher(Stage(), max_batch_size=4, wait_s=0.0)
    batcher.configure(8, 0.01)
    assert (batcher.max_batch_size, batcher.wait_s) == (8, 0.01)


def test_with_two_batches_in_flight_the_next_one_starts_while_the_first_runs():
    class Overlapping(Stage):
        running = peak = 0

        async def __call__(self, calls: list[int]) -> list[int]:
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                return await super().__call__(calls)
            finally:
                self.running -= 1

    def run(in_flight: int) -> tuple[list, Overlapping]:
        stage = Overlapping(seconds=0.1)
        batcher = Batcher(stage, max_batch_size=16, wait_s=0.0, in_flight=in_flight)
        return asyncio.run(staggered(batcher, list(range(6)), every_s=0.02)), stage

    answers, stage = run(2)
    assert answers == [0, 10, 20, 30, 40, 50] and stage.peak == 2
    # the second batch formed from what came while the first ran, not after it
    assert stage.batches[:2] == [[0], [1]]
    answers, stage = run(1)
    assert answers == [0, 10, 20, 30, 40, 50] and stage.peak == 1
    with pytest.raises(ValueError, match="in_flight"):
        Batcher(Stage(), max_batch_size=4, wait_s=0.0, in_flight=0)
