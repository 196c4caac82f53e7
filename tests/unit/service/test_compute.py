"""The compute slot: model code runs in one worker thread with the stage's torch threads, and
calls wait while a batch runs, so the next batch forms from everything that waited."""
from __future__ import annotations

import asyncio
import threading

import torch

from service.replica.compute import ComputeSlot


def test_the_worker_thread_uses_the_stage_torch_threads():
    slot = ComputeSlot(torch_threads=2)
    seen = asyncio.run(slot.run(lambda: (torch.get_num_threads(), threading.current_thread().name)))
    assert seen[0] == 2 and seen[1].startswith("model")


def test_calls_wait_while_a_batch_runs_and_enter_together_after():
    async def scenario():
        slot = ComputeSlot()
        release = threading.Event()
        running = asyncio.create_task(slot.run(release.wait, 5))
        await asyncio.sleep(0.05)
        waiters = [asyncio.create_task(slot.wait_idle()) for _ in range(3)]
        await asyncio.sleep(0.05)
        blocked = [not w.done() for w in waiters]
        release.set()
        await running
        await asyncio.wait_for(asyncio.gather(*waiters), 1)
        return blocked, [w.done() for w in waiters]

    blocked, done = asyncio.run(scenario())
    assert blocked == [True] * 3 and done == [True] * 3


def test_a_failing_batch_frees_the_slot():
    async def scenario():
        slot = ComputeSlot()
        try:
            await slot.run(lambda: 1 / 0)
        except ZeroDivisionError:
            pass
        await asyncio.wait_for(slot.wait_idle(), 1)
        return True

    assert asyncio.run(scenario())
