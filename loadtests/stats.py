"""Latency statistics, one percentile definition for every load script: linear interpolation
(NumPy's default), so p99 of a few hundred samples moves smoothly instead of jumping between
neighbours."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from pydantic import BaseModel, field_validator


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
    """The fault and soak runs' latency figures, in ms rounded to 0.1; None when nothing was timed."""

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
