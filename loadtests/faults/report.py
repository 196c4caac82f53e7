"""The figures of a fault run: a table to read, JSON to keep."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from loadtests.faults.load import Outcome, Tally


class Second(BaseModel):
    """What the requests sent during one second of the run got."""

    t: int
    sent: int
    ok: int
    degraded: int
    errored: int
    lost: int


class FaultReport(BaseModel):
    fault: str
    checkpoint: str
    started_utc: str
    rate_per_s: float
    duration_s: float
    kill_at_s: float
    killed: str
    killed_pids: list[int]
    health_check_period_s: float
    tally: Tally
    recovered: bool
    recovery_s: float | None  # from the kill until the service is whole again (recovery.py)
    node_back_at_s: float | None = None  # node fault: when a new worker node joined, after the kill
    # from the router's log: calls whose replica died and were sent once more; calls whose input died
    retries_logged: int = 0
    inputs_lost_logged: int = 0
    per_second: list[Second]


def per_second(outcomes: list[Outcome]) -> list[Second]:
    rows: dict[int, Second] = {}
    for o in outcomes:
        t = int(o.sent_at)
        row = rows.setdefault(t, Second(t=t, sent=0, ok=0, degraded=0, errored=0, lost=0))
        row.sent += 1
        if o.status is None:
            row.lost += 1
        elif o.status == 200:
            row.ok += 1
            row.degraded += o.degraded
        else:
            row.errored += 1
    return [rows[t] for t in sorted(rows)]


def table(report: FaultReport) -> str:
    t = report.tally
    errored = ", ".join(f"{code}: {n}" for code, n in t.errored.items()) or "none"
    recovery = f"{report.recovery_s:.1f} s" if report.recovery_s is not None else "NOT RECOVERED"
    rows = [
        ("fault", report.fault),
        ("killed", report.killed),
        ("load", f"{report.rate_per_s:g} req/s for {report.duration_s:g} s, kill at {report.kill_at_s:g} s "
                 f"(checkpoint {report.checkpoint})"),
        ("sent", str(t.sent)),
        ("answered (200)", f"{t.answered} ({t.degraded} degraded: a non-target head in errors[])"),
        ("errored by status", errored),
        ("lost (no HTTP response)", f"{t.lost} {t.lost_reasons or ''}".strip()),
        ("503 without Retry-After", str(t.refusals_without_retry_after)),
        ("latency of 200s p50/p99/max", f"{t.answered_latency.p50_ms} / {t.answered_latency.p99_ms} / {t.answered_latency.max_ms} ms"),
        ("time to full recovery", recovery + (f" (new worker node joined at +{report.node_back_at_s:.1f} s)"
                                              if report.node_back_at_s is not None else "")),
        ("retried after a lost replica", f"{report.retries_logged} calls (router log)"),
        ("inputs lost with their backbone", f"{report.inputs_lost_logged} calls (router log)"),
        ("health_check_period_s", f"{report.health_check_period_s:g}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)} | {v}" for k, v in rows)


def write(report: FaultReport, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"fault_{report.fault}.json"
    path.write_text(report.model_dump_json(indent=2) + "\n")
    return path
