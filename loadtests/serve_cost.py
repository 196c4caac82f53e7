"""Serve's own CPU per request, process by process, under one cluster setting; and whether it is
per request at all or the busy machine's.

The benchmark bills Serve's controller, its HTTP proxy and Ray's raylet/GCS to the requests of a
cell (their CPU during the cell, less what they use with nothing to do). Under direct ingress no
request passes through the proxy, yet the benchmark billed it a few ms per request. This
separates the two readings (docs/results.md, Serve's own processes). One cluster runs the colocated application with
`router.ingress: direct`; three phases run interleaved over rounds:

    idle       nothing runs
    inprocess  the same model at the same concurrency in this process: the machine as busy, no request to Serve
    direct     the clients on the router replica's own port (Serve's direct ingress)

It prints each process's CPU in ms per second of each phase, and per request in `direct`. What the
controller and the proxy use during `inprocess` is not the requests'. `--checkpoint tiny` serves
the tests' tiny random model: the model then costs almost nothing and Serve's own path is most of
the router's CPU, so a cluster setting's effect on it shows in a short run (`--cluster-env`, one
setting per run: run two settings back to back, ABAB). `--json FILE` appends the run's numbers.

    python -m loadtests.serve_cost --checkpoint tiny --seconds 40 --rounds 2
    python -m loadtests.serve_cost --checkpoint tiny --cluster-env RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD=0
    python -m loadtests.serve_cost --checkpoint reports/bench-s7a/checkpoint-8-heads --heads 4
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("router", "serve_controller", "http_proxy", "ray_system")
PHASES = ("idle", "inprocess", "direct")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="tiny", help="a checkpoint directory, or `tiny`: the tests' tiny random model")
    p.add_argument("--config", type=Path, default=ROOT / "deploy" / "serve_config.yaml")
    p.add_argument("--heads", type=int, default=4, help="heads per request (the benchmark's goal cell: 4)")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--seconds", type=float, default=40.0, help="per phase over all rounds")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--ray-cpus", type=int, default=3)
    p.add_argument("--cluster-env", action="append", default=[], metavar="KEY=VALUE",
                   help="more environment for the cluster's processes, beyond service/deploy/cluster_env.py's (repeatable)")
    p.add_argument("--json", type=Path, default=None, help="append this run's numbers to FILE as one JSON line")
    args = p.parse_args(argv)
    try:
        args.cluster_env = dict(item.split("=", 1) for item in args.cluster_env)
    except ValueError:
        p.error(f"--cluster-env takes KEY=VALUE, got {args.cluster_env}")
    return args


async def _phase(phase: str, calls: dict[str, Any], requests: list[dict[str, Any]], args: argparse.Namespace,
                 app: str) -> tuple[dict[str, float], int, int, float]:
    """CPU seconds by role, answers, failures and wall seconds of one phase."""
    from loadtests.measure import closed_loop, cpu_by_role

    before, t0 = cpu_by_role(app), time.monotonic()
    answers = failures = 0
    seconds = args.seconds / args.rounds
    if phase == "idle":
        await asyncio.sleep(seconds)
    else:
        loop = await closed_loop(calls[phase], requests, args.concurrency, seconds)
        answers, failures = len(loop.latencies_ms), loop.failures
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
    lines = ["| phase | req/s | " + " | ".join(f"{r} ms/s" for r in ROLES) + " |", "|---|---|" + "---|" * len(ROLES)]
    for phase, t in totals.items():
        per = t["answers"] > 0
        cells = [f"{t[r] * 1000 / t['seconds']:.1f}" + (f" ({t[r] * 1000 / t['answers']:.2f}/req)" if per else "") for r in ROLES]
        lines.append(f"| {phase} | {t['answers'] / t['seconds']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _checkpoint(name: str, work: Path) -> Path:
    if name != "tiny":
        return Path(name)
    from training.testing import make_random_checkpoint

    out = work / "tiny-random"
    make_random_checkpoint(out, seed=0)
    return out


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    args = parse_args(argv)
    from loadtests.checkpoints import sweep_order
    from loadtests.engines import InProcess
    from loadtests.results import Batching
    from loadtests.inputs import sample_requests, with_heads
    from loadtests.serving import LocalServe, ServeCaller, placement_args
    from service.deploy.cluster_env import DIRECT_INGRESS_CLUSTER_ENV

    config = yaml.safe_load(args.config.read_text())["applications"][0]["args"]
    batching = config["backbone"].get("batching", {})
    app = "serve-cost"
    with tempfile.TemporaryDirectory(prefix="wiyh-serve-cost-") as work:
        checkpoint = _checkpoint(args.checkpoint, Path(work))
        order, _ = sweep_order(checkpoint)
        target, *others = order[: args.heads]
        requests = [with_heads(b, target, others) for b in sample_requests(20)]
        cluster_env = {**DIRECT_INGRESS_CLUSTER_ENV, **args.cluster_env}
        with LocalServe(num_cpus=args.ray_cpus, serve_env=cluster_env) as local:
            serve_args = placement_args(config, "colocated", str(checkpoint), order)
            serve_args["router"]["ingress"] = "direct"
            url = local.deploy_direct(serve_args, app, route_prefix="/cost")
            inprocess = InProcess(checkpoint, Batching(max_batch_size=batching.get("max_batch_size", 16),
                                                       wait_s=batching.get("batch_wait_timeout_s", 0.002),
                                                       torch_threads=config["backbone"].get("torch_threads")))

            gc.collect()
            gc.freeze()  # as the benchmark does (bench.py): the engine's collections would stall the clients
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
