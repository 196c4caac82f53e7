"""The benchmark's plan and results as pydantic models: what a run measured, written to JSON and
read back by the report (and by the GPU script's comparison)."""
from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from loadtests.stats import LatencySummary

Mode = Literal["model_only", "inprocess", "fanout", "colocated", "colocated_direct", "colocated_split", "per_task"]
MODES: tuple[Mode, ...] = get_args(Mode)
# Run only when asked for (--modes): the colocated application as it was before it became one
# deployment, to compare with `colocated` in one run. (`colocated_direct`, the colocated
# application on its router replica's own port, runs by default: it is the
# configuration that meets the Serve host-cost goal, and the whole benchmark cluster then runs with
# Serve's direct ingress on, next to the proxy that the other Serve modes use.)
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


class Plan(BaseModel):
    checkpoint: str
    seconds: float = Field(gt=0)  # per cell, over all rounds
    rounds: int = Field(1, ge=1)  # cells run interleaved this many times (see cells.py)
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

    def batch_cell(self) -> Cell:
        """The batch endpoint's cell: the goal cell's heads (4 linear ones), `batch_items` items a request."""
        return Cell(concurrency=self.batch_concurrency, heads=min(4, self.linear_heads, len(self.head_order)), items=self.batch_items)


class CellResult(BaseModel):
    cell: Cell
    summary: LatencySummary
    foreign_cpu: float  # 0..1 of the machine used by processes outside the benchmark
    latencies_ms: list[float]
    problems: list[str] = Field(default_factory=list)
    breakdown: dict[str, float] = Field(default_factory=dict)  # Serve modes: means of timings_ms


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
