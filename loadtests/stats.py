"""What the requests of a load run got, counted. One percentile definition for every script: linear
interpolation (NumPy's default), so p99 of a few hundred samples moves smoothly instead of jumping
between neighbours. A benchmark cell is summarized; an HTTP run is tallied: every request sent is
answered, errored with a status, or lost (no HTTP response at all), counted in all, by message and
second by second."""
from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np
from pydantic import BaseModel, computed_field, field_validator

from loadtests.loop import Outcome

LOST_INPUT = "input was lost"  # the message of a head whose stored input died with its owner


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) of `values`; NaN when there are none."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must lie in [0, 1], got {q}")
    if len(values) == 0:
        return math.nan
    return float(np.quantile(np.asarray(values, dtype=float), q, method="linear"))


class LatencySummary(BaseModel):
    """One measured cell of the benchmark: how many requests finished, how fast, and their spread."""

    requests: int
    failures: int
    seconds: float
    throughput: float  # successful requests per second
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float

    @field_validator("p50_ms", "p95_ms", "p99_ms", "mean_ms", mode="before")
    @classmethod
    def _none_is_nan(cls, value: float | None) -> float:
        # A cell with no answer has no latency: NaN here, which JSON cannot spell, so pydantic
        # writes it as null; reading the file back must give NaN again, not a validation error.
        return math.nan if value is None else value


def summarize(latencies_ms: Sequence[float], seconds: float, failures: int = 0) -> LatencySummary:
    """Throughput counts successful requests over the wall time of the whole cell."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    n = len(latencies_ms)
    return LatencySummary(requests=n, failures=failures, seconds=round(seconds, 3), throughput=n / seconds,
                          p50_ms=percentile(latencies_ms, 0.50), p95_ms=percentile(latencies_ms, 0.95),
                          p99_ms=percentile(latencies_ms, 0.99), mean_ms=sum(latencies_ms) / n if n else math.nan)


class Percentiles(BaseModel):
    """An HTTP run's latency figures, in ms rounded to 0.1; None when nothing was timed."""

    n: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


def percentiles(seconds: Sequence[float]) -> Percentiles:
    if not seconds:
        return Percentiles(n=0, p50_ms=None, p99_ms=None, max_ms=None)
    ms = [s * 1000 for s in seconds]
    return Percentiles(n=len(ms), p50_ms=round(percentile(ms, 0.5), 1), p99_ms=round(percentile(ms, 0.99), 1),
                       max_ms=round(max(ms), 1))


class Tally(BaseModel):
    sent: int
    answered: int  # 200
    degraded: int  # 200 with some non-target head in errors[]
    errored: dict[str, int]  # non-200 status -> count
    lost: int  # no HTTP response at all
    lost_reasons: dict[str, int]
    refusals_without_retry_after: int  # 503s that did not say when to come back
    answered_latency: Percentiles
    refusal_latency: Percentiles  # the 503s: how fast overload is refused
    # what the answers said went wrong, a message counted once per answer that carries it
    by_message: dict[str, int] = {}
    inputs_lost_target: int = 0  # non-200: the target head could not read its input
    inputs_lost_non_target: int = 0  # 200 with a non-target head's errors[] saying so

    @computed_field  # type: ignore[prop-decorator]
    @property
    def by_status(self) -> dict[str, int]:
        counts = {"200": self.answered, **self.errored, "no answer": self.lost}
        return {status: n for status, n in counts.items() if n}


def messages_of(outcome: Outcome) -> list[str]:
    """What an answer says went wrong: its error message, or each non-target head's in errors[]."""
    status, body = outcome.status, outcome.body
    if status is None:
        return [f"no answer: {outcome.lost}"]
    if status == 200:
        errors = body.get("errors") if isinstance(body, dict) else None
        return [f"{e.get('head')}: {e.get('message')}" for e in errors or [] if isinstance(e, dict)]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return [f"{status} {body['error'].get('message')}"]
    return [f"{status} {str(body)[:120]}"]


def is_degraded(o: Outcome) -> bool:
    """A 200 that went out without some non-target head (listed in errors[])."""
    return o.status == 200 and isinstance(o.body, dict) and bool(o.body.get("degraded"))


def tally(outcomes: list[Outcome]) -> Tally:
    errored: Counter[str] = Counter()
    lost_reasons: Counter[str] = Counter()
    by_message: Counter[str] = Counter()
    lost_input = {True: 0, False: 0}  # the answer was a 200
    for o in outcomes:
        if o.status is None:
            lost_reasons[o.lost or "?"] += 1
        elif o.status != 200:
            errored[str(o.status)] += 1
        messages = messages_of(o)
        by_message.update(messages)
        lost_input[o.status == 200] += sum(LOST_INPUT in m for m in messages)
    refused = [o for o in outcomes if o.status == 503]
    return Tally(
        sent=len(outcomes), answered=sum(o.status == 200 for o in outcomes), degraded=sum(map(is_degraded, outcomes)),
        errored=dict(sorted(errored.items())), lost=sum(lost_reasons.values()), lost_reasons=dict(lost_reasons),
        refusals_without_retry_after=sum(o.retry_after is None for o in refused),
        answered_latency=percentiles([o.latency_s for o in outcomes if o.status == 200]),
        refusal_latency=percentiles([o.latency_s for o in refused]), by_message=dict(by_message.most_common()),
        inputs_lost_target=lost_input[False], inputs_lost_non_target=lost_input[True],
    )


class Second(BaseModel):
    """What the requests sent during one second of the run got."""

    t: int
    sent: int = 0
    ok: int = 0  # 200
    degraded: int = 0  # of the 200s
    refused: int = 0  # 503
    other: int = 0  # any other status
    lost: int = 0  # no HTTP response


def per_second(outcomes: list[Outcome]) -> list[Second]:
    rows: dict[int, Second] = {}
    for o in outcomes:
        row = rows.setdefault(int(o.sent_at), Second(t=int(o.sent_at)))
        row.sent += 1
        field = {None: "lost", 200: "ok", 503: "refused"}.get(o.status, "other")
        setattr(row, field, getattr(row, field) + 1)
        row.degraded += is_degraded(o)
    return [rows[t] for t in sorted(rows)]
