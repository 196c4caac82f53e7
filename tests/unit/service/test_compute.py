"""The compute slot: model code runs in one worker thread with the stage's torch threads, one call
after the other."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
import torch

from service.replica.compute import ComputeSlot


def test_the_worker_thread_uses_the_stage_torch_threads():
    slot = ComputeSlot(torch_threads=2)
    seen = asyncio.run(slot.run(lambda: (torch.get_num_threads(), threading.current_thread().name)))
    assert seen[0] == 2 and seen[1].startswith("model")


def test_calls_run_one_after_the_other_and_a_failing_one_frees_the_slot():
    spans: list[tuple[float, float]] = []

    def work() -> None:
        start = time.monotonic()
        time.sleep(0.05)
        spans.append((start, time.monotonic()))

    async def scenario() -> None:
        slot = ComputeSlot()
        with pytest.raises(ZeroDivisionError):
            await slot.run(lambda: 1 / 0)
        await asyncio.gather(*(slot.run(work) for _ in range(3)))

    asyncio.run(scenario())
    spans.sort()
    assert len(spans) == 3 and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # never two at once
