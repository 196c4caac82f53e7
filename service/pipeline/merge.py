"""Single-input requests that arrive together are answered by one pass through the stages: one
backbone call and one call per replica head for all of them, as a batch request would be.

Why: every handle call costs the router and the stage it calls CPU of its own (pickling the
message, Serve's routing and queueing, the replica's asyncio and batching bookkeeping),
several milliseconds a call on a 2-core CPU (docs/results.md), while the model is
already batched behind it. Merging in the router makes that cost per batch instead of per request.

How: a request is sent at once while fewer than `max_in_flight` merged calls are out (a lone
request waits for nothing); otherwise it waits, and when a call comes back every request that
waited (up to `max_inputs`) goes out together. A request that waited longer than `max_wait_s`
without being sent is refused as overloaded (503 + Retry-After), so a queue that outgrows the
stages sheds instead of hanging. One request's failed target fails that request only.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Generic, TypeVar

from service.pipeline.failures import BACKBONE, StageError

P = TypeVar("P")  # one input's plan
R = TypeVar("R")  # one input's outcome

# (plans, joined request id) -> (one outcome per plan, what the whole pass reports)
PassFn = Callable[[list[P], str], Awaitable[tuple[list[R], Any]]]


class RequestMerger(Generic[P, R]):
    def __init__(self, run: PassFn, max_inputs: int, max_in_flight: int, max_wait_s: float, retry_after_s: float = 1.0):
        if max_inputs < 1 or max_in_flight < 1:
            raise ValueError(f"max_inputs ({max_inputs}) and max_in_flight ({max_in_flight}) must be at least 1")
        self._run, self.max_inputs, self.max_in_flight = run, max_inputs, max_in_flight
        self.max_wait_s, self.retry_after_s = max_wait_s, retry_after_s
        self._waiting: list[tuple[P, str, asyncio.Future, float]] = []
        self._in_flight = 0
        self.passes = 0  # merged calls sent: tests and the benchmark compare it with requests

    async def __call__(self, plan: P, request_id: str) -> tuple[R, Any]:
        """This request's outcome and the report of the pass that carried it."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting.append((plan, request_id, future, time.monotonic()))
        self._send()
        return await future

    def _send(self) -> None:
        now = time.monotonic()
        alive = []
        for entry in self._waiting:
            future, since = entry[2], entry[3]
            if future.done():  # the client went away
                continue
            if now - since > self.max_wait_s:
                future.set_exception(StageError(BACKBONE, "overloaded", f"no room for it within {self.max_wait_s:g} s",
                                                self.retry_after_s))
                continue
            alive.append(entry)
        self._waiting = alive
        while self._waiting and self._in_flight < self.max_in_flight:
            batch, self._waiting = self._waiting[:self.max_inputs], self._waiting[self.max_inputs:]
            self._in_flight += 1
            self.passes += 1
            asyncio.ensure_future(self._pass(batch))

    async def _pass(self, batch: list[tuple[P, str, asyncio.Future, float]]) -> None:
        try:
            outcomes, report = await self._run([plan for plan, _, _, _ in batch], ",".join(rid for _, rid, _, _ in batch))
            for (_, _, future, _), outcome in zip(batch, outcomes):
                if not future.done():
                    future.set_result((outcome, report))
        except Exception as err:  # the pass failed as a whole (the backbone): every request learns it
            for _, _, future, _ in batch:
                if not future.done():
                    future.set_exception(err)
        finally:
            self._in_flight -= 1
            self._send()
