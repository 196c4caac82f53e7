"""What the load runs measured, as pydantic models written to JSON and read back. One percentile
definition for every script: linear interpolation (NumPy's default), so p99 of a few hundred samples
moves smoothly instead of jumping between neighbours. A benchmark cell is summarized; an HTTP run is
tallied: every request sent is answered, errored with a status, or lost (no HTTP response at all)."""
from __future__ import annotations

import math
from collections import Counter
from typing import Literal, Sequence, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from loadtests.traffic import Outcome

LOST_INPUT = "input was lost"  # the message of a head whose stored input died with its owner
Mode = Literal["model_only", "inprocess", "fanout", "colocated", "colocated_direct", "colocated_split", "per_task"]
MODES: tuple[Mode, ...] = get_args(Mode)
# Run only when asked for (--modes): the colocated application with the backbone its own
# deployment, to compare with `colocated` in one run.
NOT_BY_DEFAULT: tuple[Mode, ...] = ("colocated_split",)
LABELS: dict[str, str] = {
    "model_only": "0. model only (the ceiling)",
    "inprocess": "a. in-process engine (the limit)",
    "fanout": "b. Serve, heads as replicas",
    "colocated": "c. Serve, heads colocated",
    "colocated_direct": "c3. Serve, heads colocated, direct ingress (no proxy hop)",
    "colocated_split": "c2. Serve, heads colocated, backbone its own deployment",
    "per_task": "d. one full model per task",
}
IN_PROCESS_MODES = ("inprocess", "per_task")  # engines measured alone in a child for their peak memory
# A cell's breakdown keys: CPU ms per request of one process of the mode, less what it spends with
# no request (TOTAL sums them, WITH_BACKGROUND with the background left in); CPU ms per second of
# one process, all of it.
CPU = "cpu_ms_per_request."
CPU_PER_S = "cpu_ms_per_second."
TOTAL = "total"
WITH_BACKGROUND = "total with background"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) of `values`; NaN when there are none."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must lie in [0, 1], got {q}")
    if len(values) == 0:
        return math.nan
    return float(np.quantile(np.asarray(values, dtype=float), q, method="linear"))


class LatencySummary(BaseModel):
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
        # JSON cannot spell NaN (a cell with no answer), so pydantic writes null: read it back as NaN
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
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None


def percentiles(seconds: Sequence[float]) -> Percentiles:
    ms = [s * 1000 for s in seconds]
    if not ms:
        return Percentiles(n=0)
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
    by_message: dict[str, int] = {}  # what the answers said went wrong, once per answer that says it
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
    errored: Counter[str] = Counter(str(o.status) for o in outcomes if o.status not in (None, 200))
    lost_reasons: Counter[str] = Counter(o.lost or "?" for o in outcomes if o.status is None)
    by_message: Counter[str] = Counter()
    lost_input = {True: 0, False: 0}  # the answer was a 200
    for o in outcomes:
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


class Cell(BaseModel):
    """One measured point: `concurrency` clients, each request asking `heads` heads (0 = all);
    `items` > 0: each request is a /v1/predict/batch of that many items, and the cell's
    throughput and failures count items, not requests."""

    model_config = ConfigDict(frozen=True)  # a key in tallies and plots
    concurrency: int = Field(ge=1)
    heads: int = Field(0, ge=0)
    items: int = Field(0, ge=0)

    @property
    def label(self) -> str:
        return (f"c={self.concurrency}" + (f", {self.heads} head{'s' if self.heads > 1 else ''}" if self.heads else "")
                + (f", batch of {self.items}" if self.items else ""))


class Batching(BaseModel):
    max_batch_size: int
    wait_s: float
    torch_threads: int | None = None
    overlap_batches: bool = False  # the backbone's host steps in threads of their own (service/deploy/stages.py)


class Plan(BaseModel):
    checkpoint: str
    seconds: float = Field(gt=0)  # per cell, over all rounds
    rounds: int = Field(1, ge=1)  # cells run interleaved this many times (measure.py)
    warmup_requests: int = 8
    concurrency: list[int]
    head_counts: list[int]
    heads_concurrency: int
    head_order: list[str]  # the sweep's heads, target first: linear heads, then generative
    linear_heads: int  # how many of head_order's first heads are linear (span, tagging, classification)
    batching: Batching
    device: str = "cpu"
    dtype: str = "float32"
    requests_per_setting: int = 20
    batch_items: int = 0  # > 0: a /v1/predict/batch cell, this many items per request (4 heads)
    batch_concurrency: int = 2
    # whether the heads were trained: random generative heads write until max_target_tokens or a chance EOS
    heads_trained: bool | None = None

    def cells(self) -> list[Cell]:
        main = [Cell(concurrency=c) for c in self.concurrency]
        sweep = [Cell(concurrency=self.heads_concurrency, heads=k) for k in self.head_counts if k <= len(self.head_order)]
        return main + sweep + ([self.batch_cell()] if self.batch_items else [])

    def goal_cell(self) -> Cell:
        """Where the goals are read: the sweep's concurrency with 4 linear heads, single-item requests."""
        return Cell(concurrency=self.heads_concurrency, heads=min(4, self.linear_heads))

    def batch_cell(self) -> Cell:
        """The batch endpoint's cell: the goal cell's heads, `batch_items` items a request."""
        return Cell(concurrency=self.batch_concurrency, heads=min(4, self.linear_heads, len(self.head_order)), items=self.batch_items)


class CellResult(BaseModel):
    cell: Cell
    summary: LatencySummary
    foreign_cpu: float  # 0..1 of the machine used by processes outside the benchmark
    latencies_ms: list[float]
    problems: list[str] = Field(default_factory=list)
    breakdown: dict[str, float] = Field(default_factory=dict)  # Serve modes: means of timings_ms; CPU by process


class ModeResult(BaseModel):
    mode: Mode
    peak_rss_mib: float
    memory_note: str
    peak_gpu_mib: float | None = None  # cuda runs: device memory in use at the peak
    cells: list[CellResult]
    batch_inputs_mean: float | None = None  # in-process engines: inputs per batched pass
    generated_tokens_mean: float | None = None  # model only: tokens a generative head wrote per input

    def at(self, cell: Cell) -> CellResult | None:
        return next((c for c in self.cells if c.cell == cell), None)


class BytesPerRequest(BaseModel):
    """Hidden states one request stores for the head replicas (service/replica/payload.py's packing)."""

    requests: int
    tokens_mean: float
    stored_float32: float
    stored_float16: float
    padded_float32: float  # what a [windows, max_length, hidden] tensor would have been
    cls_only_float16: float  # what a classification head alone needs (its first token)
    replica_heads: int  # fan-out: heads that map (one node) or copy (across nodes) the payload


class Goal(BaseModel):
    name: str
    value: float | None
    threshold: float
    higher_is_better: bool
    met: bool | None  # None: not measured in this run
    detail: str = ""


class Report(BaseModel):
    plan: Plan
    started: str
    device_name: str
    modes: list[ModeResult]
    cluster_env: dict[str, str] = Field(default_factory=dict)  # --cluster-env: beyond cluster_env.py's
    bytes_per_request: BytesPerRequest | None = None
    goals: list[Goal] = Field(default_factory=list)
    wall_s: float = 0.0

    def mode(self, name: str) -> ModeResult | None:
        return next((m for m in self.modes if m.mode == name), None)
