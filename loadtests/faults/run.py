"""One fault run: start the service, load it, kill something mid-run, measure what clients got and
how long until the service is whole again."""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import threading
import time
from pathlib import Path

from loadtests.faults.cluster import APP, LocalService
from loadtests.faults.load import Outcome, open_loop, request_bodies, tally
from loadtests.faults.recovery import time_to_recover
from loadtests.faults.replicas import running_counts
from loadtests.faults.report import FaultReport, per_second, table, write
from loadtests.faults.scenarios import FAULTS, KILLERS, Fault, fault_args, worker_nodes_for
from service.deploy.settings import load_settings

log = logging.getLogger("wiyh.loadtests")


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


async def _node_comes_back(service: LocalService, after_s: float, since: float) -> float:
    await asyncio.sleep(after_s)
    # On this (the main) thread on purpose: starting a Ray node installs signal handlers, which
    # only the main thread may do. It stalls the recovery polling for those seconds, not the load.
    service.add_worker()
    return round(time.monotonic() - since, 2)


class _BackgroundLoad(threading.Thread):
    """The load on its own thread and event loop, so nothing the fault run does on the main
    thread (a node start blocks for seconds) can delay a request's departure."""

    def __init__(self, url: str, bodies: list, rate: float, duration_s: float):
        super().__init__(name="load", daemon=True)
        self.args = (url, bodies, rate, duration_s)
        self.outcomes: list[Outcome] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.outcomes = asyncio.run(open_loop(*self.args))
        except BaseException as err:  # re-raised on the main thread by result()
            self.error = err

    def result(self) -> list[Outcome]:
        self.join()
        if self.error is not None:
            raise self.error
        return self.outcomes


async def _drive(service: LocalService, args: argparse.Namespace) -> FaultReport:
    bodies = request_bodies()
    probes = list({b["task"]: b for b in bodies}.values())
    expected = running_counts(APP)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    load = _BackgroundLoad(service.url, bodies, args.rate, args.duration)
    load.start()
    await asyncio.sleep(args.kill_at)
    kill = KILLERS[args.fault](service)
    killed_at = time.monotonic()
    print(f"[{args.kill_at:.0f} s] {kill.what}", flush=True)
    node_back = asyncio.create_task(_node_comes_back(service, args.node_down, killed_at)) if args.fault == "node" else None
    recovery_s = await time_to_recover(service.url, APP, expected, {r.actor_id for r in kill.replicas}, probes,
                                       since=killed_at, deadline_s=args.recovery_deadline)
    back_at = await node_back if node_back is not None else None
    outcomes = await asyncio.to_thread(load.result)
    return FaultReport(
        fault=args.fault, checkpoint=str(args.checkpoint), started_utc=started,
        rate_per_s=args.rate, duration_s=args.duration, kill_at_s=args.kill_at, killed=kill.what,
        killed_pids=[r.pid for r in kill.replicas], health_check_period_s=load_settings(service.args).backbone.health_check_period_s,
        tally=tally(outcomes), recovered=recovery_s is not None, recovery_s=recovery_s, node_back_at_s=back_at,
        per_second=per_second(outcomes),
    )


def run(args: argparse.Namespace) -> FaultReport:
    service = LocalService(fault_args(args.checkpoint, args.fault))
    try:
        print(f"starting a private Ray cluster ({1 + worker_nodes_for(args.fault)} node(s)) and the app ...", flush=True)
        service.start(workers=worker_nodes_for(args.fault))
        print(f"serving {args.checkpoint} at {service.url}; load {args.rate:g} req/s for {args.duration:g} s", flush=True)
        report = asyncio.run(_drive(service, args))
        # the phrases service/pipeline/retry.py and service/deploy/ray_engine.py log
        report.retries_logged = service.count_in_logs("calling it once more")
        report.inputs_lost_logged = service.count_in_logs("lost its input")
    finally:
        service.close()
    print(table(report))
    print(f"JSON: {write(report, args.out)}")
    return report


def main(argv: list[str] | None = None, fault: Fault | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    report = run(parse_args(argv, fault))
    # a lost request or a service that never came back is a failed run
    return 0 if report.tally.lost == 0 and report.recovered else 1
