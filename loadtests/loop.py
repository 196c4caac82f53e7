"""The load loops, the HTTP calls they make, and what each request got. A closed loop (clients that
send their next request when the last is answered) measures capacity, but slows down exactly when
the service is in trouble; the fault and soak runs drive an open loop, at a fixed rate whatever the
service does. A loop that must not wait on its caller's thread (which starts a Ray node, or waits
for py-spy) runs on a thread of its own: `asyncio.to_thread(asyncio.run, loop)`."""
from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Union

import httpx

from loadtests.inputs import Catalog, body_of, check_answer


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


# A call answers one request with the problems found in its answer ([] = valid), or with an
# Outcome that keeps the HTTP status and body too. Raising is a request with no answer.
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


# An open loop keeps sending whatever the service does: many requests may wait at once.
OPEN_LOOP = httpx.Limits(max_connections=2000, max_keepalive_connections=200)


class Http:
    """POST /v1/predict, or /v1/predict/batch for a {"items": [...]} request, on one pooled client.
    Any status but 200 is a problem; the Outcome keeps the status, the body and Retry-After."""

    def __init__(self, url: str, limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
                 timeout_s: float = 60.0):
        self.client = httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits)

    async def __call__(self, request: dict[str, Any]) -> Outcome:
        response = await self.client.post("/v1/predict/batch" if "items" in request else "/v1/predict", json=request)
        return Outcome([] if response.status_code == 200 else [f"HTTP {response.status_code}"], status=response.status_code,
                       body=body_of(response), retry_after=response.headers.get("retry-after"))


class ServeCaller(Http):
    """Every answer checked as the locust users check it, its timings_ms kept for the cell's breakdown."""

    def __init__(self, url: str):
        super().__init__(url, httpx.Limits(max_connections=64))
        self.catalog = Catalog.from_heads_response(httpx.get(f"{url}/v1/heads", timeout=10).json())
        self.timings: list[dict[str, Any]] = []

    async def __call__(self, request: dict[str, Any]) -> Outcome:
        outcome = await super().__call__(request)
        outcome.problems = check_answer(outcome.status or 0, outcome.body, request, self.catalog)
        if "items" not in request and outcome.status == 200 and isinstance(outcome.body, dict) and "timings_ms" in outcome.body:
            self.timings.append(outcome.body["timings_ms"])
        return outcome

    def breakdown(self) -> dict[str, float]:
        """Means over the answers since the last call: router total, backbone call, the forward
        pass, the slowest head replica call, and inputs per backbone pass."""
        timed, self.timings = self.timings, []
        if not timed:
            return {}
        return {
            "router_total_ms": statistics.mean(t["total"] for t in timed),
            "backbone_call_ms": statistics.mean(t["backbone"] for t in timed),
            "backbone_forward_ms": statistics.mean(t["backbone_forward"] for t in timed),
            "slowest_head_call_ms": statistics.mean(max(t["heads"].values(), default=0.0) for t in timed),
            "backbone_batch_inputs": statistics.mean(t["backbone_batch_inputs"] for t in timed),
        }
