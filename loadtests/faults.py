"""Fault runs (docs/service.md, "Faults, overload and soak"): the application under an open-loop
load loses a head replica, a backbone replica or a whole worker node mid-run; prints what the
clients got and how long until the service was whole again, and writes OUT/fault_<fault>.json.
Exit status 1 when a request got no HTTP answer or the service did not recover.

    python -m loadtests.faults --fault head|backbone|node [--rate 8 --duration 60 --kill-at 15]

Every replicated stage runs two replicas, so a lost replica has a sibling to take the retry. The
router stays on the head node next to Serve's proxy: losing the ingress is a load balancer's fault,
not this one's.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from loadtests.results import is_degraded
from loadtests.runs import RunReport, run_served
from loadtests.serving import (APP, WORKER_RESOURCE, LocalServe, Replica, alive_replicas, deploy_args, replica_counts,
                               require_checkpoint, serve_whole, sigkill, under_load)
from loadtests.traffic import OPEN_LOOP, Http, Run, open_loop, send, target_requests
from model import HEAD_KINDS
from model.checkpoint import read_manifest
from service.deploy.settings import load_settings

Fault = Literal["head", "backbone", "node"]
HEAD_NODE_RESOURCE = "wiyh_head_node"  # pins the router next to the proxy, on the node that is never killed
NODE_DOWN_S = 15.0  # node fault: until a new worker node joins
RECOVERY_DEADLINE_S = 180.0


class FaultReport(RunReport):
    fault: Fault
    rate_per_s: float
    duration_s: float
    kill_at_s: float
    killed: str
    killed_pids: list[int]
    health_check_period_s: float
    recovered: bool
    recovery_s: float | None  # from the kill until the service is whole again (time_to_recover)
    node_back_at_s: float | None = None  # node fault: when a new worker node joined, after the kill


@dataclass
class Layout:
    """Which heads run as their own replicas, found by kind: the span head (which a head fault
    kills) and every head that writes text. The last writer keeps both its replicas on the worker
    node, so losing that node shows both answers: stages that survive through a sibling on the head
    node (retry), and one gone until a node comes back (errors[], or 503 + Retry-After as target)."""

    replica_heads: list[str]
    killed_head: str
    worker_only_head: str

    @classmethod
    def of(cls, checkpoint: Path) -> "Layout":
        answers = {h.name: HEAD_KINDS[h.kind].answers_with for h in read_manifest(checkpoint).heads}
        spans = [h for h, a in answers.items() if a == "span"]
        writers = [h for h, a in answers.items() if a == "text"]
        if not spans or not writers:
            raise SystemExit(f"{checkpoint}: a fault run needs a span head and a head that writes text; its heads "
                             f"answer with {answers}")
        return cls(spans[:1] + writers, spans[0], writers[-1])


def fault_args(checkpoint: Path, fault: Fault, layout: Layout) -> dict[str, Any]:
    """The served application: two replicas of every replicated stage (one a node for a node fault)."""
    stage: dict[str, Any] = {"autoscaling": None, "num_replicas": 2, "torch_threads": 1}
    spread = {**stage, "max_replicas_per_node": 1} if fault == "node" else stage
    heads = {h: {"placement": "replica", **spread} for h in layout.replica_heads}
    if fault == "node":
        heads[layout.worker_only_head] = {"placement": "replica", **stage, "resources": {WORKER_RESOURCE: 1}}
    return deploy_args(checkpoint, {
        "router": {"autoscaling": None, "num_replicas": 1, "resources": {HEAD_NODE_RESOURCE: 1}},
        "backbone": {**spread, "placement": "replica"},  # a backbone deployment to kill, next to head replicas
        "heads": {"overrides": heads},
    })


def kill(service: LocalServe, fault: Fault, killed_head: str) -> tuple[str, list[Replica]]:
    """SIGKILL one replica, or remove the worker node; what was killed, and the replicas that died."""
    if fault == "node":
        [node] = service.workers
        on_node = [r for r in alive_replicas(APP) if r.node_id == node.node_id]
        service.kill_worker(node)
        names = ", ".join(sorted(r.deployment for r in on_node))
        return f"worker node {node.node_id[:8]} removed (raylet, object store and {len(on_node)} replicas: {names})", on_node
    victim = alive_replicas(APP, "backbone" if fault == "backbone" else f"head_{killed_head}")[0]
    sigkill(victim)
    return f"SIGKILL pid {victim.pid}: one of the {victim.deployment} replicas", [victim]


async def time_to_recover(url: str, expected: dict[str, int], dead: set[str], probes: list[dict[str, Any]],
                          since: float) -> float | None:
    """Seconds from `since` (a time.monotonic()) until /health/ready answers 200, every deployment is
    whole again (serve_whole) and a request for every target head gets a 200 that is not degraded (a
    stage may be back for some calls only); None past the deadline."""
    http = Http(url, timeout_s=10)
    while time.monotonic() - since < RECOVERY_DEADLINE_S:
        try:
            ready = (await http.client.get("/health/ready")).status_code == 200
        except httpx.HTTPError:
            ready = False
        if ready and await asyncio.to_thread(serve_whole, APP, expected, dead):
            answers = await asyncio.gather(*(send(http, b, 0.0) for b in probes))
            if all(o.status == 200 and not is_degraded(o) for o in answers):
                return round(time.monotonic() - since, 2)
        await asyncio.sleep(0.5)
    return None


async def node_comes_back(service: LocalServe, since: float) -> float:
    """A new worker node NODE_DOWN_S after the kill; when it joined, in seconds from `since`."""
    await asyncio.sleep(NODE_DOWN_S)
    # On this (the main) thread on purpose: starting a Ray node installs signal handlers, which
    # only the main thread may do. It stalls the recovery polling, not the load (its own thread).
    service.add_worker()
    return round(time.monotonic() - since, 2)


async def with_a_fault(service: LocalServe, url: str, args: argparse.Namespace, killed_head: str) -> tuple[Run, dict[str, Any]]:
    """The open loop with the fault `args.kill_at` seconds in, and the recovery watched."""
    from ray import serve

    bodies = target_requests()
    probes = list({b["task"]: b for b in bodies}.values())
    expected = replica_counts(serve.status(), APP)[0]
    # on a thread of its own: adding a node blocks this one for seconds
    load = asyncio.create_task(asyncio.to_thread(asyncio.run, open_loop(Http(url, OPEN_LOOP), bodies, args.rate, args.duration)))
    await asyncio.sleep(args.kill_at)
    killed, replicas = kill(service, args.fault, killed_head)
    killed_at = time.monotonic()
    print(f"[{args.kill_at:.0f} s] {killed}", flush=True)
    node_back = asyncio.create_task(node_comes_back(service, killed_at)) if args.fault == "node" else None
    recovery_s = await time_to_recover(url, expected, {r.actor_id for r in replicas}, probes, killed_at)
    figures = {"killed": killed, "killed_pids": [r.pid for r in replicas], "recovered": recovery_s is not None,
               "recovery_s": recovery_s, "node_back_at_s": await node_back if node_back is not None else None}
    return await load, figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Kill part of the running service under load and report what clients got.")
    p.add_argument("--fault", choices=("head", "backbone", "node"), required=True,
                   help="head replica, backbone replica, or a whole worker node")
    p.add_argument("--checkpoint", type=Path, default=Path("checkpoints/tiny"), help="checkpoint to serve (default: %(default)s)")
    p.add_argument("--rate", type=float, default=8.0, help="requests per second, open loop (default: %(default)s)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (default: %(default)s)")
    p.add_argument("--kill-at", type=float, default=15.0, help="seconds into the load (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("reports"), help="where the JSON goes (default: %(default)s)")
    args = p.parse_args(argv)
    require_checkpoint(p, args.checkpoint, "tiny")
    if not 0 < args.kill_at < args.duration:
        p.error(f"--kill-at {args.kill_at} must lie inside the load (0, --duration {args.duration})")
    logging.basicConfig(level=logging.WARNING)
    layout = Layout.of(args.checkpoint)
    app_args = fault_args(args.checkpoint, args.fault, layout)
    workers = 1 if args.fault == "node" else 0
    print(f"starting a private Ray cluster ({1 + workers} node(s)) and the app ...", flush=True)
    report = run_served(FaultReport, under_load(head_resources={HEAD_NODE_RESOURCE: 1000}), app_args,
                        lambda service, url: with_a_fault(service, url, args, layout.killed_head), workers,
                        checkpoint=str(args.checkpoint), fault=args.fault, rate_per_s=args.rate, duration_s=args.duration,
                        kill_at_s=args.kill_at, load=f"{args.rate:g} req/s for {args.duration:g} s, kill at {args.kill_at:g} s",
                        health_check_period_s=load_settings(app_args).backbone.health_check_period_s)
    recovery = f"{report.recovery_s:.1f} s" if report.recovery_s is not None else "NOT RECOVERED"
    if report.node_back_at_s is not None:
        recovery += f" (new worker node joined at +{report.node_back_at_s:.1f} s)"
    report.show(args.out / f"fault_{report.fault}.json", [("fault", report.fault), ("killed", report.killed)],
                [("time to full recovery", recovery), ("health_check_period_s", f"{report.health_check_period_s:g}")])
    # a lost request or a service that never came back is a failed run
    return 0 if report.tally.lost == 0 and report.recovered else 1


if __name__ == "__main__":
    sys.exit(main())
