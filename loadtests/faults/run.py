"""One fault run: start the service, load it, kill something mid-run, measure what clients got and
how long until the service is whole again (every check of `is_whole` passes at once); a table to
read, JSON to keep."""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from loadtests.calls import OPEN_LOOP, Http
from loadtests.faults.scenarios import FAULTS, HEAD_NODE_RESOURCE, KILLERS, Fault, fault_args, worker_nodes_for
from loadtests.inputs import target_requests
from loadtests.loop import Background, open_loop, send
from loadtests.outputs import aligned
from loadtests.replicas import APP, replica_counts, serve_whole
from loadtests.serving import LocalServe, under_load
from loadtests.tally import Second, Tally, is_degraded, per_second, tally
from service.deploy.settings import load_settings


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
    recovery_s: float | None  # from the kill until the service is whole again (is_whole)
    node_back_at_s: float | None = None  # node fault: when a new worker node joined, after the kill
    # from the router's log: calls whose replica died and were sent once more; calls whose input died
    retries_logged: int = 0
    inputs_lost_logged: int = 0
    per_second: list[Second]


def parse_args(argv: list[str] | None = None, fault: Fault | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Kill part of the running service under load and report what clients got.")
    if fault is None:
        p.add_argument("--fault", choices=FAULTS, required=True, help="head replica, backbone replica, or a whole worker node")
    p.add_argument("--checkpoint", type=Path, default=Path("checkpoints/tiny"), help="checkpoint to serve (default: %(default)s)")
    p.add_argument("--rate", type=float, default=8.0, help="requests per second, open loop (default: %(default)s)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (default: %(default)s)")
    p.add_argument("--kill-at", type=float, default=15.0, help="seconds into the load (default: %(default)s)")
    p.add_argument("--node-down", type=float, default=15.0,
                   help="node fault: seconds until a new worker node joins (default: %(default)s)")
    p.add_argument("--recovery-deadline", type=float, default=180.0, help="give up waiting for recovery after this")
    p.add_argument("--out", type=Path, default=Path("reports"), help="where the JSON goes (default: %(default)s)")
    args = p.parse_args(argv)
    if fault is not None:
        args.fault = fault
    if not (args.checkpoint / "manifest.json").exists():
        p.error(f"no checkpoint at {args.checkpoint}; train one: python -m training train --preset tiny --out {args.checkpoint}")
    if not 0 < args.kill_at < args.duration:
        p.error(f"--kill-at {args.kill_at} must lie inside the load (0, --duration {args.duration})")
    return args


async def is_whole(http: Http, expected: dict[str, int], dead: set[str], probes: list[dict[str, Any]]) -> bool:
    """/health/ready answers 200; every deployment is HEALTHY with as many RUNNING replicas as
    before the fault, none of them a killed one (replicas.serve_whole); a request for every target
    head gets a 200 that is not degraded (a stage may be back for some calls and not others)."""
    try:
        if (await http.client.get("/health/ready")).status_code != 200:
            return False
    except httpx.HTTPError:
        return False
    if not await asyncio.to_thread(serve_whole, APP, expected, dead):
        return False
    answers = await asyncio.gather(*(send(http, b, 0.0) for b in probes))
    return all(o.status == 200 and not is_degraded(o) for o in answers)


async def time_to_recover(url: str, expected: dict[str, int], dead: set[str], probes: list[dict[str, Any]], since: float,
                          deadline_s: float) -> float | None:
    """Seconds from `since` (a time.monotonic()) until the service is whole; None past the deadline."""
    http = Http(url, timeout_s=10)
    while time.monotonic() - since < deadline_s:
        if await is_whole(http, expected, dead, probes):
            return round(time.monotonic() - since, 2)
        await asyncio.sleep(0.5)
    return None


async def _node_comes_back(service: LocalServe, after_s: float, since: float) -> float:
    await asyncio.sleep(after_s)
    # On this (the main) thread on purpose: starting a Ray node installs signal handlers, which
    # only the main thread may do. It stalls the recovery polling for those seconds, not the load,
    # which runs on its own thread.
    service.add_worker()
    return round(time.monotonic() - since, 2)


async def _drive(service: LocalServe, url: str, app_args: dict[str, Any], args: argparse.Namespace) -> FaultReport:
    from ray import serve

    bodies = target_requests()
    probes = list({b["task"]: b for b in bodies}.values())
    expected = replica_counts(serve.status(), APP)[0]
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    load = Background(lambda: open_loop(Http(url, OPEN_LOOP), bodies, args.rate, args.duration))
    load.start()
    await asyncio.sleep(args.kill_at)
    kill = KILLERS[args.fault](service)
    killed_at = time.monotonic()
    print(f"[{args.kill_at:.0f} s] {kill.what}", flush=True)
    node_back = asyncio.create_task(_node_comes_back(service, args.node_down, killed_at)) if args.fault == "node" else None
    recovery_s = await time_to_recover(url, expected, {r.actor_id for r in kill.replicas}, probes, killed_at, args.recovery_deadline)
    back_at = await node_back if node_back is not None else None
    outcomes = (await asyncio.to_thread(load.result)).outcomes
    return FaultReport(
        fault=args.fault, checkpoint=str(args.checkpoint), started_utc=started,
        rate_per_s=args.rate, duration_s=args.duration, kill_at_s=args.kill_at, killed=kill.what,
        killed_pids=[r.pid for r in kill.replicas], health_check_period_s=load_settings(app_args).backbone.health_check_period_s,
        tally=tally(outcomes), recovered=recovery_s is not None, recovery_s=recovery_s, node_back_at_s=back_at,
        per_second=per_second(outcomes),
    )


def table(report: FaultReport) -> str:
    t = report.tally
    recovery = f"{report.recovery_s:.1f} s" if report.recovery_s is not None else "NOT RECOVERED"
    return aligned([
        ("fault", report.fault),
        ("killed", report.killed),
        ("load", f"{report.rate_per_s:g} req/s for {report.duration_s:g} s, kill at {report.kill_at_s:g} s "
                 f"(checkpoint {report.checkpoint})"),
        ("sent", str(t.sent)),
        ("answered (200)", f"{t.answered} ({t.degraded} degraded: a non-target head in errors[])"),
        ("errored by status", ", ".join(f"{code}: {n}" for code, n in t.errored.items()) or "none"),
        ("lost (no HTTP response)", f"{t.lost} {t.lost_reasons or ''}".strip()),
        ("503 without Retry-After", str(t.refusals_without_retry_after)),
        ("latency of 200s p50/p99/max", f"{t.answered_latency.p50_ms} / {t.answered_latency.p99_ms} / {t.answered_latency.max_ms} ms"),
        ("time to full recovery", recovery + (f" (new worker node joined at +{report.node_back_at_s:.1f} s)"
                                              if report.node_back_at_s is not None else "")),
        ("retried after a lost replica", f"{report.retries_logged} calls (router log)"),
        ("inputs lost with their backbone", f"{report.inputs_lost_logged} calls (router log)"),
        ("health_check_period_s", f"{report.health_check_period_s:g}"),
    ])


def run(args: argparse.Namespace) -> FaultReport:
    workers = worker_nodes_for(args.fault)
    print(f"starting a private Ray cluster ({1 + workers} node(s)) and the app ...", flush=True)
    with under_load(head_resources={HEAD_NODE_RESOURCE: 1000}) as service:
        for _ in range(workers):
            service.add_worker()
        app_args = fault_args(args.checkpoint, args.fault)
        url = service.deploy(app_args, APP)
        print(f"serving {args.checkpoint} at {url}; load {args.rate:g} req/s for {args.duration:g} s", flush=True)
        report = asyncio.run(_drive(service, url, app_args, args))
        # the phrases service/pipeline/retry.py and service/deploy/ray_engine.py log
        report.retries_logged = service.count_in_logs("calling it once more")
        report.inputs_lost_logged = service.count_in_logs("lost its input")
    print(table(report))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"fault_{report.fault}.json"
    path.write_text(report.model_dump_json(indent=2) + "\n")
    print(f"JSON: {path}")
    return report


def main(argv: list[str] | None = None, fault: Fault | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    report = run(parse_args(argv, fault))
    # a lost request or a service that never came back is a failed run
    return 0 if report.tally.lost == 0 and report.recovered else 1
