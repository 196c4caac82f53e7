"""Serve's own CPU per request, process by process, under one cluster setting; and whether it is
per request at all or the busy machine's (docs/results.md, "Serve's own processes").

One cluster runs the colocated application with `router.ingress: direct`; three phases run
interleaved over rounds: `idle` (nothing runs), `inprocess` (the same model at the same
concurrency in this process: the machine as busy, no request to Serve) and `direct` (the clients
on the router replica's own port). It prints each process's CPU in ms per second of each phase,
and per request. `--checkpoint tiny` serves the tests' tiny random model, so Serve's own path is
most of the router's CPU and a setting's effect shows in a short run (one `--cluster-env` setting
per run: run two back to back).

    python -m loadtests.serve_cost --checkpoint tiny --seconds 40 --rounds 2
    python -m loadtests.serve_cost --checkpoint tiny --cluster-env RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD=0
"""
from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from loadtests.apps import CONFIG, batching, config_args, placement_args
from loadtests.calls import ServeCaller
from loadtests.checkpoints import sweep_order, tiny_random
from loadtests.inputs import sample_requests, with_heads
from loadtests.loop import closed_loop
from loadtests.outputs import markdown_table
from loadtests.processes import cpu_by_role
from loadtests.serving import LocalServe, cluster_env_option
from service.deploy.cluster_env import DIRECT_INGRESS_CLUSTER_ENV

ROLES = ("router", "serve_controller", "http_proxy", "ray_system")
PHASES = ("idle", "inprocess", "direct")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="tiny", help="a checkpoint directory, or `tiny`: the tests' tiny random model")
    p.add_argument("--config", type=Path, default=CONFIG)
    p.add_argument("--heads", type=int, default=4, help="heads per request (the benchmark's goal cell: 4)")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--seconds", type=float, default=40.0, help="per phase over all rounds")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--ray-cpus", type=int, default=3)
    cluster_env_option(p, "more environment for the cluster's processes, beyond service/deploy/cluster_env.py's (repeatable)")
    p.add_argument("--json", type=Path, default=None, help="append this run's numbers to FILE as one JSON line")
    args = p.parse_args(argv)
    args.cluster_env = dict(args.cluster_env)
    return args


async def _phase(phase: str, calls: dict[str, Any], requests: list[dict[str, Any]], args: argparse.Namespace,
                 app: str) -> tuple[dict[str, float], int, int, float]:
    """CPU seconds by role, answers, failures and wall seconds of one phase."""
    before, t0 = cpu_by_role(app), time.monotonic()
    answers = failures = 0
    seconds = args.seconds / args.rounds
    if phase == "idle":
        await asyncio.sleep(seconds)
    else:
        run = await closed_loop(calls[phase], requests, args.concurrency, seconds)
        answers, failures = len(run.latencies_ms), run.failures
    after = cpu_by_role(app)
    return {r: after.get(r, 0.0) - before.get(r, 0.0) for r in ROLES}, answers, failures, time.monotonic() - t0


async def _run(calls: dict[str, Any], requests: list[dict[str, Any]], args: argparse.Namespace, app: str) -> dict[str, dict[str, float]]:
    totals = {p: {"seconds": 0.0, "answers": 0.0, "failures": 0.0, **{r: 0.0 for r in ROLES}} for p in PHASES}
    for i in range(args.rounds):
        for phase in PHASES:
            cpu, answers, failures, wall = await _phase(phase, calls, requests, args, app)
            t = totals[phase]
            t["seconds"] += wall
            t["answers"] += answers
            t["failures"] += failures
            for role, used in cpu.items():
                t[role] += used
            print(f"  round {i + 1} {phase:<9} {answers / wall:6.1f} req/s  failed {failures}  "
                  + ", ".join(f"{r} {cpu[r] * 1000 / wall:.0f} ms/s" for r in ROLES), flush=True)
    return totals


def table(totals: dict[str, dict[str, float]]) -> str:
    def per(t: dict[str, float], role: str) -> str:
        return f"{t[role] * 1000 / t['seconds']:.1f}" + (f" ({t[role] * 1000 / t['answers']:.2f}/req)" if t["answers"] > 0 else "")

    rows = [[phase, f"{t['answers'] / t['seconds']:.1f}", *(per(t, r) for r in ROLES)] for phase, t in totals.items()]
    return "\n".join(markdown_table(["phase", "req/s", *(f"{r} ms/s" for r in ROLES)], rows))


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    args = parse_args(argv)
    from loadtests.engines import InProcess, freeze_heap

    config = config_args(args.config)
    app = "serve-cost"
    with tempfile.TemporaryDirectory(prefix="wiyh-serve-cost-") as work:
        checkpoint = tiny_random(Path(work) / "tiny-random") if args.checkpoint == "tiny" else Path(args.checkpoint)
        order, _ = sweep_order(checkpoint)
        target, *others = order[: args.heads]
        requests = [with_heads(b, target, others) for b in sample_requests(20)]
        with LocalServe(num_cpus=args.ray_cpus, serve_env={**DIRECT_INGRESS_CLUSTER_ENV, **args.cluster_env}) as local:
            serve_args = placement_args(config, "colocated", str(checkpoint), order)
            serve_args["router"]["ingress"] = "direct"
            url = local.deploy_direct(serve_args, app, route_prefix="/cost")
            inprocess = InProcess(checkpoint, batching(config))
            freeze_heap()  # as the benchmark does: the engine's collections would stall the clients
            print(f"cluster env beyond cluster_env.py: {args.cluster_env or 'none'}; {checkpoint}; c={args.concurrency}, "
                  f"{args.heads} heads; {args.rounds} rounds of {list(PHASES)}", flush=True)
            totals = asyncio.run(_run({"inprocess": inprocess, "direct": ServeCaller(url)}, requests, args, app))
    print("\nCPU ms per second of each phase (per request answered in brackets):\n" + table(totals))
    if args.json:
        with args.json.open("a") as f:
            f.write(json.dumps({"started": time.strftime("%H:%M:%S", time.gmtime()), "checkpoint": args.checkpoint,
                                "cluster_env": args.cluster_env, "totals": totals}) + "\n")
    return totals


if __name__ == "__main__":
    main()
