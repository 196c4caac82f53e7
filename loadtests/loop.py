"""The load loops, and what each request got. A closed loop (clients that send their next request
when the last is answered) measures capacity, but slows down exactly when the service is in
trouble; the fault and soak runs drive an open loop, at a fixed rate whatever the service does."""
from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Coroutine, Union


@dataclass
class Outcome:
    """What one request got: a valid answer (no problems), an answer with problems, or none."""

    problems: list[str] = field(default_factory=list)  # [] = a valid answer
    status: int | None = None  # the HTTP status, for a request over HTTP
    body: Any = None  # the HTTP answer as read: JSON, else text
    retry_after: str | None = None
    lost: str | None = None  # no answer at all (refused, reset, timed out): the exception's class
    sent_at: float = 0.0  # seconds after the loop started
    latency_s: float = 0.0


# A call answers one request with the problems found in its answer ([] = valid), or, over HTTP,
# with an Outcome that keeps the status and the body too (loadtests/calls.py). Raising is a
# request with no answer.
Call = Callable[[dict[str, Any]], Awaitable[Union[list[str], Outcome]]]


@dataclass
class Run:
    outcomes: list[Outcome]
    seconds: float  # wall time, the requests in flight at the end included

    @property
    def latencies_ms(self) -> list[float]:
        """Of the valid answers."""
        return [o.latency_s * 1000 for o in self.outcomes if not o.problems]

    @property
    def failures(self) -> int:
        return sum(bool(o.problems) for o in self.outcomes)

    @property
    def problems(self) -> list[str]:
        """The first problem of each of the first five failures: enough to say what failed."""
        return [o.problems[0] for o in self.outcomes if o.problems][:5]


async def send(call: Call, request: dict[str, Any], t0: float) -> Outcome:
    sent = time.perf_counter()
    try:
        got = await call(request)
    except Exception as err:  # no answer is a failed request, not a crashed run
        got = Outcome([f"{type(err).__name__}: {err}"], lost=type(err).__name__)
    outcome = got if isinstance(got, Outcome) else Outcome(got)
    outcome.sent_at, outcome.latency_s = sent - t0, time.perf_counter() - sent
    return outcome


async def closed_loop(call: Call, requests: list[dict[str, Any]], concurrency: int, seconds: float,
                      max_requests: int | None = None) -> Run:
    """`concurrency` clients send back to back, going round `requests`, until `seconds` have passed
    (or `max_requests` were sent); the requests in flight then finish and count."""
    outcomes: list[Outcome] = []
    sent = 0
    t0 = time.perf_counter()

    async def client() -> None:
        nonlocal sent
        while time.perf_counter() - t0 < seconds and (max_requests is None or sent < max_requests):
            sent += 1
            outcomes.append(await send(call, requests[(sent - 1) % len(requests)], t0))

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Run(outcomes, time.perf_counter() - t0)


async def open_loop(call: Call, requests: list[dict[str, Any]], rate: float, seconds: float) -> Run:
    """`rate` requests a second for `seconds`, going round `requests`; then waits for every answer."""
    t0 = time.perf_counter()
    pending: list[asyncio.Task[Outcome]] = []
    for i, request in enumerate(itertools.cycle(requests)):
        if i / rate >= seconds:
            break
        await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        pending.append(asyncio.create_task(send(call, request, t0)))
    return Run(list(await asyncio.gather(*pending)), time.perf_counter() - t0)


class Background(threading.Thread):
    """A loop on its own thread and event loop, so that what the caller's thread does meanwhile
    (start a Ray node, which blocks for seconds; wait for py-spy) delays no request."""

    def __init__(self, loop: Callable[[], Coroutine[Any, Any, Run]]):
        super().__init__(name="load", daemon=True)
        self.loop = loop
        self.done: Run | BaseException | None = None

    def run(self) -> None:
        try:
            self.done = asyncio.run(self.loop())
        except BaseException as err:  # re-raised on the caller's thread by result()
            self.done = err

    def result(self) -> Run:
        self.join()
        if isinstance(self.done, BaseException):
            raise self.done
        return self.done  # type: ignore[return-value]
