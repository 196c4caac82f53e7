"""The harness of the fault, soak and lost-inputs runs: the application on a private cluster under
HTTP load; every request's outcome counted, the replicas that went away meanwhile, and what the
router logged that the clients cannot see. Each run brings its layout, its load and its figures."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from pydantic import BaseModel

from loadtests.report import aligned, write_json
from loadtests.results import Percentiles, Second, Tally, per_second, tally
from loadtests.serving import APP, LocalServe, alive_replicas
from loadtests.traffic import Run

# What the router logs (service/pipeline/retry.py; service/deploy/ray_engine.py, with the class of
# the exception the head raised).
RETRIED = r"calling it once more"
INPUT_LOST = r"lost its input: (\w+)"
# (the running cluster, the URL its clients call) -> the measured load, and the run's own figures
Drive = Callable[[LocalServe, str], Awaitable[tuple[Run, dict[str, Any]]]]


class RunReport(BaseModel):
    checkpoint: str
    started_utc: str
    tally: Tally
    per_second: list[Second]
    load: str = ""  # how the clients were driven
    seconds: float = 0.0  # of the measured load, the requests in flight at its end included
    # by deployment: replica actors alive before the load (its warm-up included) and not after it:
    # killed, crashed, or removed by the autoscaler
    replicas_gone: dict[str, int] = {}
    load_average: dict[str, list[float]] = {}  # the machine's, before and after the load
    retries_logged: int = 0  # calls whose replica died, sent once more
    inputs_lost_logged: dict[str, int] = {}  # calls whose input died with its replica, by the exception Ray raised

    def rows(self) -> list[tuple[str, str]]:
        """What the clients got, then what the replicas did: the lines every run prints."""
        t = self.tally

        def latency(p: Percentiles) -> str:
            return f"{p.p50_ms} / {p.p99_ms} / {p.max_ms} ms"

        return [
            ("checkpoint", self.checkpoint),
            ("load", self.load),
            ("sent", f"{t.sent} in {self.seconds:g} s ({t.sent / max(self.seconds, 1e-9):.1f}/s)"),
            ("answered (200)", f"{t.answered} ({t.degraded} degraded: a non-target head in errors[])"),
            ("errored by status", ", ".join(f"{code}: {n}" for code, n in t.errored.items()) or "none"),
            ("lost (no HTTP response)", f"{t.lost} {t.lost_reasons or ''}".strip()),
            ("503 without Retry-After", str(t.refusals_without_retry_after)),
            ("latency of 200s p50/p99/max", latency(t.answered_latency)),
            ("latency of 503s p50/p99/max", latency(t.refusal_latency)),
            ("answers saying an input was lost", f"{t.inputs_lost_target} for the target, {t.inputs_lost_non_target} in errors[]"),
            ("replicas gone", ", ".join(f"{d}: {n}" for d, n in self.replicas_gone.items()) or "none"),
            ("retried after a lost replica", f"{self.retries_logged} calls (router log)"),
            ("inputs lost with their backbone", f"{sum(self.inputs_lost_logged.values())} calls (router log) "
                                                f"{self.inputs_lost_logged or ''}".strip()),
        ]

    def show(self, path: Path, before: Sequence[tuple[str, str]] = (), after: Sequence[tuple[str, str]] = ()) -> None:
        """Print the rows between a run's own, and write the report to `path` as JSON."""
        print(aligned([*before, *self.rows(), *after]))
        print(f"JSON: {write_json(self, path)}")


ReportType = TypeVar("ReportType", bound=RunReport)


def logged(root: Path | None, pattern: str) -> Counter[str]:
    """The matches of `pattern` in the logs under a cluster's temp dir (every process, every node),
    counted by the pattern's first group (by the match itself when it has none)."""
    regex = re.compile(pattern)
    found: Counter[str] = Counter()
    for path in Path(root).glob("**/logs/**/*") if root is not None else ():
        try:
            if path.suffix in (".log", ".err", ".out") and path.is_file():
                found.update(regex.findall(path.read_text(errors="replace")))
        except OSError:  # rotated away meanwhile
            continue
    return found


def run_served(report: type[ReportType], cluster: LocalServe, app_args: dict[str, Any], drive: Drive, workers: int = 0,
               **fields: Any) -> ReportType:
    """Start `cluster` with `workers` worker nodes, serve `app_args` as APP, `drive` it; the report
    holds what every request got, what changed meanwhile, the drive's figures and `fields`."""
    def replica_ids() -> dict[str, set[str]]:
        ids: dict[str, set[str]] = defaultdict(set)
        for r in alive_replicas(APP):
            ids[r.deployment].add(r.actor_id)
        return ids

    with cluster as service:
        for _ in range(workers):
            service.add_worker()
        url = service.deploy(app_args, APP)
        print(f"serving {app_args['checkpoint']} at {url}", flush=True)
        started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        before, load_before = replica_ids(), os.getloadavg()
        run, figures = asyncio.run(drive(service, url))
        after, load_after = replica_ids(), os.getloadavg()
        retried, lost = logged(service.temp_dir, RETRIED), logged(service.temp_dir, INPUT_LOST)
    gone = {d: len(ids - after[d]) for d, ids in before.items() if ids - after[d]}
    return report(started_utc=started, seconds=round(run.seconds, 1), tally=tally(run.outcomes), replicas_gone=gone,
                  load_average={"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after]},
                  retries_logged=sum(retried.values()), inputs_lost_logged=dict(lost), per_second=per_second(run.outcomes),
                  **fields, **figures)
