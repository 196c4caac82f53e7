"""The one batching point of a process that runs model code: calls queue, and a batch forms from
what waited once the previous batch is done, runs (the owner puts it in its compute thread,
compute.py), and its results go back to each caller. One batch runs at a time.

Why our own and not @serve.batch: Serve's batcher closes a batch `batch_wait_timeout_s` after its
first call and only then waits for the compute; when a forward pass takes longer than the wait,
calls that arrive meanwhile form many small batches queued behind it (measured on a 2-core CPU:
2.8 inputs per pass instead of 16 at concurrency 16, a third of the throughput). Here a batch
forms only when the compute is free, from everything that waited. It also needs no Serve
replica, so the benchmark's in-process baseline and the tests run this very code, and a caller
that gave up (its future cancelled: a timeout, a client gone) is dropped before its inputs are
computed.

    max_batch_size  inputs per batch (`size` counts a call's inputs); a call larger than that
                    runs alone rather than never
    wait_s          how long the first call of a batch waits for more while the batch is short
                    of max_batch_size and the compute is free
    in_flight       batches that may run at once (default 1). A stage whose batch passes through
                    steps in separate threads (tokenise, model, decode: backbone_batches.py) takes
                    2, so that the next batch forms and starts its first step while this one is in
                    the model; each step still runs one batch at a time.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Generic, Sequence, TypeVar

log = logging.getLogger("wiyh.service")

C = TypeVar("C")  # one call
R = TypeVar("R")  # its result


class Batcher(Generic[C, R]):
    def __init__(self, run: Callable[[list[C]], Awaitable[Sequence[R]]], max_batch_size: int, wait_s: float,
                 size: Callable[[C], int] = lambda call: 1, in_flight: int = 1):
        """`run`: one result per call, in order, for a whole batch."""
        if in_flight < 1:
            raise ValueError(f"in_flight ({in_flight}) must be at least 1")
        self._run, self._size, self.in_flight = run, size, in_flight
        self.configure(max_batch_size, wait_s)
        self._running: set[asyncio.Task] = set()
        self._waiting: list[tuple[C, asyncio.Future, float]] = []
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self.batches = 0  # batches run: tests and stats compare it with calls

    def configure(self, max_batch_size: int, wait_s: float) -> None:
        """New limits, from the next batch on (a config update in place)."""
        if max_batch_size < 1 or wait_s < 0:
            raise ValueError(f"max_batch_size ({max_batch_size}) must be at least 1 and wait_s ({wait_s}) at least 0")
        self.max_batch_size, self.wait_s = max_batch_size, wait_s

    async def __call__(self, call: C) -> R:
        """This call's result, from the batch that carried it; what that batch raised, if it did."""
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            # first call, or a new event loop (a test client's per-request loop): a worker of its own;
            # what waited on another loop can never be answered there
            self._waiting = [w for w in self._waiting if w[1].get_loop() is loop]
            self._running = set()  # batches of the old loop never finish on this one
            self._arrived = asyncio.Event()
            self._worker = loop.create_task(self._loop())
        future: asyncio.Future = loop.create_future()
        self._waiting.append((call, future, time.monotonic()))
        self._arrived.set()  # type: ignore[union-attr]
        return await future

    def _queued_inputs(self) -> int:
        return sum(self._size(call) for call, future, _ in self._waiting if not future.done())

    async def _loop(self) -> None:
        assert self._arrived is not None
        while True:
            self._waiting = [w for w in self._waiting if not w[1].done()]  # callers that gave up
            if not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            if len(self._running) >= self.in_flight:
                await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
                continue
            deadline = self._waiting[0][2] + self.wait_s
            while self._queued_inputs() < self.max_batch_size and (remaining := deadline - time.monotonic()) > 0:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            batch = self._take()
            if batch:
                task = asyncio.get_running_loop().create_task(self._run_batch(batch))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    def _take(self) -> list[tuple[C, asyncio.Future, float]]:
        """The oldest live calls up to max_batch_size inputs (at least one)."""
        batch, inputs, rest = [], 0, []
        for entry in self._waiting:
            if entry[1].done():
                continue
            n = self._size(entry[0])
            if batch and inputs + n > self.max_batch_size:
                rest.append(entry)
                continue
            batch.append(entry)
            inputs += n
        self._waiting = rest
        return batch

    async def _run_batch(self, batch: list[tuple[C, asyncio.Future, float]]) -> None:
        self.batches += 1
        try:
            results = await self._run([call for call, _, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} calls gave {len(results)} results")
        except Exception as err:  # every caller of the batch learns it failed; the loop goes on
            log.debug("a batch of %d calls raised %s", len(batch), type(err).__name__)
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(err)
            return
        for (_, future, _), result in zip(batch, results):
            if not future.done():
                future.set_result(result)
