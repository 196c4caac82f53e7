"""An open-loop HTTP load: requests leave at a fixed rate whatever the service does, and every
one ends as an HTTP status or as lost (no HTTP response at all: refused connection, reset,
client timeout). A closed loop (locust's users wait for each answer) would slow down exactly when
the service is in trouble and hide what a fault does to incoming traffic.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import httpx
from pydantic import BaseModel

from training.data.synthetic import generate
from loadtests.stats import percentile

# One task per target head kind the checkpoints have: span, generative (number, summary), classification, tagging.
TASKS = ("squad", "drop_number", "summarize", "hotpot_yesno", "drop_spans")


def request_bodies(n_per_setting: int = 20, seed: int = 5, tasks: Iterable[str] = TASKS) -> list[dict[str, Any]]:
    """Realistic /v1/predict bodies from the synthetic generators, every head asked (the default)."""
    wanted = set(tasks)
    bodies = []
    for setting in ("numeric", "multihop", "qa_summary"):
        for e in generate(setting, n_per_setting, seed=seed):
            if e.task not in wanted:
                continue
            inputs = {"question": e.question, "context": e.context} if e.question else {"text": e.context}
            bodies.append({"task": e.task, "inputs": inputs})
    if not bodies:
        raise ValueError(f"the generators made no example of the tasks {sorted(wanted)}")
    # interleave the tasks so every second of the run sees each target head
    by_task: dict[str, list] = {}
    for b in bodies:
        by_task.setdefault(b["task"], []).append(b)
    return [b for row in itertools.zip_longest(*by_task.values()) for b in row if b is not None]


@dataclass
class Outcome:
    sent_at: float  # seconds since the load started
    latency_s: float
    task: str
    status: int | None  # None: lost
    lost: str | None = None  # why there was no HTTP response
    degraded: bool = False
    retry_after: str | None = None


async def send(client: httpx.AsyncClient, body: dict[str, Any], t0: float) -> Outcome:
    sent_at = time.monotonic()
    try:
        r = await client.post("/v1/predict", json=body)
    except httpx.HTTPError as err:
        return Outcome(sent_at - t0, time.monotonic() - sent_at, body["task"], None, lost=type(err).__name__)
    latency = time.monotonic() - sent_at
    degraded = False
    if r.status_code == 200:
        degraded = bool(r.json().get("degraded"))
    return Outcome(sent_at - t0, latency, body["task"], r.status_code, degraded=degraded,
                   retry_after=r.headers.get("retry-after"))


async def open_loop(url: str, bodies: list[dict[str, Any]], rate: float, duration_s: float, timeout_s: float = 60.0,
                    stop: Callable[[], bool] = lambda: False) -> list[Outcome]:
    """Send `rate` requests per second for `duration_s` (cycling through `bodies`); wait for all."""
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits) as client:
        t0 = time.monotonic()
        pending: list[asyncio.Task[Outcome]] = []
        for i, body in enumerate(itertools.cycle(bodies)):
            due = t0 + i / rate
            if due - t0 >= duration_s or stop():
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            pending.append(asyncio.create_task(send(client, body, t0)))
        return list(await asyncio.gather(*pending))


class Percentiles(BaseModel):
    n: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


def percentiles(seconds: list[float]) -> Percentiles:
    """Latency figures in ms, by the same percentile definition as every other load script
    (loadtests/stats.py: linear interpolation)."""
    if not seconds:
        return Percentiles(n=0, p50_ms=None, p99_ms=None, max_ms=None)
    ms = [s * 1000 for s in seconds]
    return Percentiles(n=len(ms), p50_ms=round(percentile(ms, 0.5), 1), p99_ms=round(percentile(ms, 0.99), 1),
                       max_ms=round(max(ms), 1))


class Tally(BaseModel):
    """What happened to the requests: every one sent is answered, errored with a status, or lost."""

    sent: int
    answered: int  # 200
    degraded: int  # 200 with some non-target head in errors[]
    errored: dict[str, int]  # non-200 status -> count
    lost: int  # no HTTP response at all
    lost_reasons: dict[str, int]
    refusals_without_retry_after: int  # 503s that did not say when to come back
    answered_latency: Percentiles
    refusal_latency: Percentiles  # the 503s: how fast overload is refused


def tally(outcomes: list[Outcome]) -> Tally:
    errored: dict[str, int] = {}
    lost_reasons: dict[str, int] = {}
    for o in outcomes:
        if o.status is None:
            lost_reasons[o.lost or "?"] = lost_reasons.get(o.lost or "?", 0) + 1
        elif o.status != 200:
            errored[str(o.status)] = errored.get(str(o.status), 0) + 1
    refused = [o for o in outcomes if o.status == 503]
    return Tally(
        sent=len(outcomes),
        answered=sum(o.status == 200 for o in outcomes),
        degraded=sum(o.status == 200 and o.degraded for o in outcomes),
        errored=dict(sorted(errored.items())),
        lost=sum(lost_reasons.values()),
        lost_reasons=lost_reasons,
        refusals_without_retry_after=sum(o.retry_after is None for o in refused),
        answered_latency=percentiles([o.latency_s for o in outcomes if o.status == 200]),
        refusal_latency=percentiles([o.latency_s for o in refused]),
    )
