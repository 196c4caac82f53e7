"""CPU time per stage of the request path, counted in the process that spends it.

The model's forward pass is what a faster device speeds up; everything else a request costs on
the host (tokenising, batching, decoding outputs to text, the explanation, schemas and JSON, Serve's
handle calls) is what stays. `CLOCK.stage(name)` adds the CPU time of a block to one process-wide
total per stage; the benchmark reads the totals before and after a cell (`snapshot()`) and
`host_split` turns them into CPU milliseconds per request by stage.

- A stage is timed with the calling thread's CPU clock, so other threads (the event loop beside
  the compute thread) do not leak into it. Stages nest: a parent's share is its own time only.
- The forward pass is timed with the CPU clocks of the calling thread and of torch's intra-op
  threads it drives (`with_workers=True`, thread_clocks.py), not the whole process's: the event
  loops beside it (HTTP, Serve's request code) keep running during a forward and are host cost.
  The forward is the part a host-cost figure leaves out.
- Serve's health checks (a canned input through the model every `health_check_period_s`) are
  their own stage, left out of the host cost too: the replica runs them with or without requests,
  so they cost per second, not per request.
- Blocks that await are never timed here (the clock would count whatever else ran meanwhile);
  what no stage names (Serve's own code, asyncio, HTTP parsing, pickling) is reported per process
  as its unattributed rest, so the stages always sum to the process's CPU time.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator, Mapping

from service.pipeline.thread_clocks import WorkerThreads

FORWARD = "forward"
HEALTH_CHECK = "health_check"
# The named stages, in the order of a request's path (a report lists them so).
STAGES = ("router", "tokenise", "batch", FORWARD, "decode", "payload", "explanation", "schema_json")
# The benchmark's own samplers (memory, other load), when they share the measured process (the
# in-process engine's is the benchmark's): measured exactly instead of left to the idle correction.
HARNESS = "harness"
# Stages a host cost leaves out: the model's own work, the background self-test, the benchmark.
NOT_HOST = (FORWARD, HEALTH_CHECK, HARNESS)
TOTAL = "total"


class StageClock:
    def __init__(self) -> None:
        self._totals: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._workers = WorkerThreads()

    @contextmanager
    def stage(self, name: str, with_workers: bool = False) -> Iterator[None]:
        """Add the block's CPU time to stage `name`. `with_workers`: the block drives a pool of
        threads (torch's intra-op pool in a forward pass); count theirs too (thread_clocks.py)."""
        stack: list[float] = self._local.__dict__.setdefault("stack", [])
        thread0 = time.thread_time()
        workers0 = self._workers.start() if with_workers else None
        stack.append(0.0)  # the thread time of nested stages, taken out of this one's
        try:
            yield
        finally:
            nested = stack.pop()
            spent = time.thread_time() - thread0
            own = self._workers.stop(workers0) if workers0 is not None else spent - nested
            if stack:
                stack[-1] += spent
            with self._lock:
                self._totals[name] += max(own, 0.0)

    def snapshot(self) -> dict[str, float | dict[str, float]]:
        """{"process_cpu_s": this process's CPU seconds so far, "stages": {stage: seconds}}."""
        with self._lock:
            stages = dict(self._totals)
        return {"process_cpu_s": time.process_time(), "stages": stages}


# One per process: a replica's runners, its pipeline and its deployment all add to it.
CLOCK = StageClock()


def reading() -> dict[str, float | dict[str, float]]:
    """This process's counters. (A function, so that a Serve deployment refers to it by name:
    Serve pickles deployment classes, and the clock's lock cannot be pickled.)"""
    return CLOCK.snapshot()

Snapshot = Mapping[str, "float | Mapping[str, float]"]


def idle_rates(before: Mapping[str, Snapshot], after: Mapping[str, Snapshot], seconds: float) -> dict[str, float]:
    """CPU seconds per second each process spends, outside its named stages, with no request to
    serve (Serve's controller polling, its replicas' metrics pushes, Ray's core worker), from two
    readings `seconds` apart."""
    rates = {}
    for role, end in after.items():
        _, rest = _between(before.get(role, end), end)
        rates[role] = max(0.0, rest) / max(seconds, 1e-9)
    return rates


def _between(start: Snapshot, end: Snapshot) -> tuple[dict[str, float], float]:
    """A process's CPU seconds between two readings: by named stage, and the rest no stage names."""
    before = start.get("stages") or {}
    stages = {stage: float(spent) - float(before.get(stage, 0.0))  # type: ignore[union-attr]
              for stage, spent in (end.get("stages") or {}).items()}  # type: ignore[union-attr]
    process = float(end["process_cpu_s"]) - float(start["process_cpu_s"])  # type: ignore[arg-type]
    return stages, process - sum(stages.values())


def host_split(before: Mapping[str, Snapshot], after: Mapping[str, Snapshot], requests: int,
               idle: Mapping[str, float] | None = None, seconds: float = 0.0) -> dict[str, float]:
    """CPU ms per request outside the forward pass, by stage, between two readings of every
    process of a mode ({role: snapshot}; a role with no stages, e.g. Serve's HTTP proxy, is all
    rest). Keys: each named stage (summed over processes), "<role>: other" for what no stage
    names in that process, "total" (their sum), and the stages not in the total (NOT_HOST: the
    forward pass, the health checks) apart.
    `idle`: each process's unnamed CPU per second without requests (idle_rates); that much of the
    `seconds` between the readings is taken out of its rest, so a slow cell does not count the
    background work of its long wall time as the cost of its few requests."""
    requests = max(requests, 1)
    per: dict[str, float] = defaultdict(float)
    apart: dict[str, float] = dict.fromkeys(NOT_HOST, 0.0)
    for role, end in after.items():
        start = before.get(role, {"process_cpu_s": end["process_cpu_s"], "stages": {}})
        stages, rest = _between(start, end)
        for stage, spent in stages.items():
            (apart if stage in NOT_HOST else per)[stage] += spent
        per[f"{role}: other"] += rest - (idle or {}).get(role, 0.0) * seconds
    out = {k: v * 1000 / requests for k, v in per.items()}
    out[TOTAL] = sum(out.values())
    out.update({k: v * 1000 / requests for k, v in apart.items()})
    return out
