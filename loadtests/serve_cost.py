"""Serve's own CPU, process by process, under one cluster setting; and whether it is per request at
all or the busy machine's (docs/results.md, "Serve's own processes"). The benchmark's cell runner
on one cluster serving its `colocated_direct` mode, three phases interleaved, each reading the CPU
of Serve's processes: `idle`, `inprocess` (the model busy in this process, no request to Serve) and
`direct` (clients on the router replica's port). `--checkpoint tiny` serves the tests' tiny random
model, so Serve's own path is most of the router's CPU and a setting's effect shows in a short run.

    python -m loadtests.serve_cost --checkpoint tiny --seconds 40 --rounds 2
    python -m loadtests.serve_cost --checkpoint tiny --cluster-env RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD=0
"""
from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from loadtests.measure import Target, cpu_by_role, run_interleaved
from loadtests.report import markdown_table
from loadtests.results import CPU_PER_S, CellResult, Plan
from loadtests.serving import LocalServe, batching, cluster_env_option, config_args, mode_args, sweep_order, tiny_random
from loadtests.traffic import Run, ServeCaller, sample_requests
from service.deploy.cluster_env import DIRECT_INGRESS_CLUSTER_ENV

APP = "serve-cost"
ROLES = ("router", "serve_controller", "http_proxy", "ray_system")
CONCURRENCY = 32
RAY_CPUS = 3


def serve_processes() -> dict[str, float]:
    """CPU seconds so far of each of ROLES (0 for one not running)."""
    found = cpu_by_role(APP)
    return {role: found.get(role, 0.0) for role in ROLES}


async def nothing(concurrency: int, requests: list[dict[str, Any]], seconds: float) -> Run:
    """The idle phase: no request, the processes watched as long as a phase with load."""
    await asyncio.sleep(seconds)
    return Run([], seconds)


def table(phases: dict[str, CellResult]) -> str:
    """Each phase's req/s and each process's CPU ms per second (and per request answered)."""
    def per(r: CellResult, role: str) -> str:
        ms = r.breakdown.get(f"{CPU_PER_S}{role}", 0.0)
        return f"{ms:.1f}" + (f" ({ms / r.summary.throughput:.2f}/req)" if r.summary.requests else "")

    rows = [[phase, f"{r.summary.throughput:.1f}", *(per(r, role) for role in ROLES)] for phase, r in phases.items()]
    return "\n".join(markdown_table(["phase", "req/s", *(f"{r} ms/s" for r in ROLES)], rows))


def main(argv: list[str] | None = None) -> dict[str, CellResult]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="tiny", help="a checkpoint directory, or `tiny`: the tests' tiny random model")
    p.add_argument("--heads", type=int, default=4, help="heads per request (the benchmark's goal cell: 4)")
    p.add_argument("--seconds", type=float, default=40.0, help="per phase over all rounds")
    p.add_argument("--rounds", type=int, default=2)
    cluster_env_option(p, "more environment for the cluster's processes, beyond service/deploy/cluster_env.py's (repeatable)")
    args = p.parse_args(argv)
    from loadtests.engines import InProcess, freeze_heap

    config = config_args()
    with tempfile.TemporaryDirectory(prefix="wiyh-serve-cost-") as work:
        checkpoint = tiny_random(Path(work) / "tiny-random") if args.checkpoint == "tiny" else Path(args.checkpoint)
        order, linear = sweep_order(checkpoint)
        # one cell: CONCURRENCY clients, each request the first `heads` heads of the sweep order
        plan = Plan(checkpoint=str(checkpoint), seconds=args.seconds, rounds=args.rounds, concurrency=[], head_counts=[args.heads],
                    heads_concurrency=CONCURRENCY, head_order=order, linear_heads=linear, batching=batching(config))
        with LocalServe(num_cpus=RAY_CPUS, serve_env={**DIRECT_INGRESS_CLUSTER_ENV, **args.cluster_env}) as local:
            url = local.deploy(mode_args("colocated_direct", config, plan.checkpoint, order), APP, route_prefix="/cost")
            targets = {"idle": Target(call=None, loop=nothing, cpu=serve_processes),  # type: ignore[arg-type]
                       "inprocess": Target(InProcess(checkpoint, plan.batching), cpu=serve_processes),
                       "direct": Target(ServeCaller(url), cpu=serve_processes)}
            freeze_heap()  # as the benchmark does: the engine's collections would stall the clients
            print(f"cluster env beyond cluster_env.py: {args.cluster_env or 'none'}; {checkpoint}; c={CONCURRENCY}, "
                  f"{args.heads} heads; {args.rounds} rounds of {list(targets)}", flush=True)
            cells = asyncio.run(run_interleaved(targets, plan, sample_requests(plan.requests_per_setting), watch_idle=False))
    phases = {phase: found for phase, (found,) in cells.items()}
    print("\nCPU ms per second of each phase (per request answered in brackets):\n" + table(phases))
    return phases


if __name__ == "__main__":
    main()
