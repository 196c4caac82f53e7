"""The serving benchmark: one checkpoint served in several modes on one machine (docs/service.md,
"The benchmark"): throughput and latency by concurrency, the cost of heads, the batch endpoint,
peak memory and CPU per request by process. Every mode is up at once and the cells run
interleaved, so other work on a shared machine weighs on every mode alike: compare rows of one run
only. Writes OUT/bench.md, bench.json and PNG plots; asserts no speed.

    python -m loadtests.bench                                  # about 21 min on 2 cores
    python -m loadtests.bench --seconds 3 --modes inprocess,colocated --out reports/bench-quick
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from loadtests.measure import Sampler, Target, cpu_by_role, gpu_memory_used_mib, own_cpu, run_interleaved
from loadtests.report import evaluate_goals, markdown, write
from loadtests.results import IN_PROCESS_MODES, MODES, NOT_BY_DEFAULT, ModeResult, Plan, Report
from loadtests.serving import (CONFIG, LAYOUTS, ROOT, LocalServe, batching, cluster_env_option, config_args, cpu_asked, mode_args,
                               random_heads_checkpoint, sweep_order, with_extra_heads, without_gpus)
from loadtests.traffic import ServeCaller, checkpoint_requests
from model.checkpoint import is_checkpoint, read_manifest
from service.deploy.cluster_env import DIRECT_INGRESS_CLUSTER_ENV, SERVE_CLUSTER_ENV

SERVED_MEMORY = "sum of the Serve replica processes' RSS (router, backbone, heads; Ray's controller, proxy and raylet not counted)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    def numbers(text: str) -> list[int]:
        return [int(n) for n in text.split(",") if n]

    def modes(text: str) -> list[str]:
        unknown = sorted(set(text.split(",")) - set(MODES) - {""})
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown modes {unknown}; valid: {list(MODES)}")
        return [m for m in MODES if m in text.split(",")]

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None, help="default: checkpoints/quick, else a random quick-sized one")
    p.add_argument("--backbone-path", type=Path, help="with no trained checkpoint: a local encoder to put random heads on")
    p.add_argument("--heads", type=int, default=8, help="random linear heads are added up to this many heads (0: none added)")
    p.add_argument("--config", type=Path, default=CONFIG, help="Serve config whose args the Serve modes use")
    p.add_argument("--modes", type=modes, default=",".join(m for m in MODES if m not in NOT_BY_DEFAULT),
                   help=f"comma-separated subset of {','.join(MODES)} (default: all but {','.join(NOT_BY_DEFAULT)})")
    p.add_argument("--concurrency", type=numbers, default="1,8,32", help='"": the head sweep only')
    p.add_argument("--head-counts", type=numbers, default="1,2,4,8")
    p.add_argument("--heads-concurrency", type=int, default=32, help="the sweep's concurrency; the goals are read at 4 heads there")
    p.add_argument("--batch-items", type=int, help="items per request of the batch cell, which counts items/s (4 heads; "
                                                    "default: the config's limits.max_batch_items; 0: no batch cell)")
    p.add_argument("--batch-concurrency", type=int, default=2, help="clients of the batch cell")
    p.add_argument("--seconds", type=float, default=8.0, help="per cell over all rounds; requests in flight then finish")
    p.add_argument("--rounds", type=int, default=2, help="cells run interleaved this many times, so a burst of other load hits them alike")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="in-process engines; Serve stages follow the config's num_gpus")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"], help="autocast type of the in-process engines")
    p.add_argument("--ray-cpus", type=int, help="logical CPUs of the Ray node (default: the machine's, or what every "
                                                 "application asks together if that is more)")
    cluster_env_option(p, "more environment for the Serve cluster's processes (repeatable): Serve's flags are "
                          "cluster-wide, so compare two settings in two runs back to back")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    return p.parse_args(argv)


def prepare_checkpoint(args: argparse.Namespace) -> Path:
    """--checkpoint (else checkpoints/quick, else one with random heads) with random linear heads up to --heads."""
    source = args.checkpoint or ROOT / "checkpoints" / "quick"
    if not is_checkpoint(source):
        source = args.out / "checkpoint-random-heads"
        print(f"no trained checkpoint: writing the quick preset's model with random heads to {source}", flush=True)
        random_heads_checkpoint(source, args.backbone_path)
    extra = args.heads - len(read_manifest(source).heads)
    if extra <= 0:
        return source
    out = with_extra_heads(source, args.out / f"checkpoint-{args.heads}-heads", extra)
    print(f"{source} with {extra} random linear heads: {out}", flush=True)
    return out


def probe_memory(mode: str, plan: Plan, work: Path) -> ModeResult:
    """Peak memory of an in-process mode: a short run at c=8 alone in a child process (engines.py)."""
    probe = plan.model_copy(update={"seconds": 3.0, "rounds": 1, "concurrency": [8], "head_counts": [], "batch_items": 0})
    print(f"{mode}: peak memory, alone in a child process", flush=True)
    plan_path, out_path = work / "plan.json", work / f"{mode}.json"
    plan_path.write_text(probe.model_dump_json())
    subprocess.run([sys.executable, "-m", "loadtests.engines", mode, str(plan_path), str(out_path)], check=True, cwd=ROOT)
    return ModeResult.model_validate_json(out_path.read_text())


def measure_all(modes: list[str], plan: Plan, base_args: dict, memory: dict[str, ModeResult], ray_cpus: int | None,
                cluster_env: dict[str, str]) -> list[ModeResult]:
    """Every mode up at once (Serve apps side by side under their own route prefixes, the
    in-process engines in this process), measured interleaved."""
    from loadtests.engines import IN_PROCESS, ModelOnly, freeze_heap

    served = [m for m in modes if m in LAYOUTS]
    # The demo's cluster environment; direct ingress is cluster-wide, so with colocated_direct every
    # Serve mode runs with it (the proxy serves the others; their replicas' ports go uncalled).
    env = {**(DIRECT_INGRESS_CLUSTER_ENV if "colocated_direct" in served else SERVE_CLUSTER_ENV), **cluster_env}
    # Every application up at once fits one GPU: each asks for its share of it.
    share = 1.0 / len(served) if plan.device == "cuda" and served else 1.0
    app_args = {mode: mode_args(mode, base_args, plan.checkpoint, plan.head_order, share) for mode in served}
    if ray_cpus is None and served:
        # Logical CPUs are Ray's bookkeeping: every application must fit them at once or the last
        # one stays pending (fan-out 1.4 + colocated 0.6 + colocated direct 0.6 > 2 cores here).
        asked = sum(cpu_asked(a, len(plan.head_order) if m == "fanout" else 0) for m, a in app_args.items())
        ray_cpus = max(os.cpu_count() or 1, math.ceil(asked))
    samplers: dict[str, Sampler] = {}
    targets: dict[str, Target] = {}
    gpu_note = ""
    with ExitStack() as running:
        if served:
            print(f"Ray is given {ray_cpus} logical CPUs", flush=True)
            local = running.enter_context(LocalServe(num_cpus=ray_cpus, serve_env=env))
        for mode, args in app_args.items():
            t0, app = time.monotonic(), f"bench-{mode}"
            samplers[mode] = running.enter_context(Sampler(app=app))
            caller = ServeCaller(local.deploy(args, app, route_prefix=f"/{mode}"))
            targets[mode] = Target(caller, caller.breakdown, cpu=lambda app=app: cpu_by_role(app))
            print(f"  {mode}: deployed and ready in {time.monotonic() - t0:.0f} s", flush=True)
        if served and plan.device == "cuda":
            gpu_note = f"; GPU: {gpu_memory_used_mib():.0f} MiB in use on the device with every mode loaded"
        if "model_only" in modes:
            model_only = ModelOnly(Path(plan.checkpoint), plan.batching, plan.device, plan.dtype)
            # its CPU per input is what the model alone costs: the others' host cost is what they spend beyond it
            targets["model_only"] = Target(call=None, loop=model_only.loop, cpu=own_cpu)  # type: ignore[arg-type]
        engines = {m: IN_PROCESS[m](Path(plan.checkpoint), plan.batching, plan.device, plan.dtype) for m in modes if m in IN_PROCESS}
        targets.update({m: Target(engine, cpu=own_cpu) for m, engine in engines.items()})
        freeze_heap()
        ordered = {m: targets[m] for m in modes}
        print(f"measuring {list(ordered)} interleaved: {plan.rounds} rounds of {len(plan.cells())} cells", flush=True)
        cells = asyncio.run(run_interleaved(ordered, plan, checkpoint_requests(plan.checkpoint, plan.requests_per_setting)))
    results = {mode: ModeResult(mode=mode, peak_rss_mib=samplers[mode].peak, cells=cells[mode], memory_note=SERVED_MEMORY + gpu_note)
               for mode in served}
    for mode, engine in engines.items():  # the probe's memory figures, this run's cells
        results[mode] = memory[mode].model_copy(update={"memory_note": memory[mode].memory_note + " (measured alone in a child process)",
                                                        "cells": cells[mode], "batch_inputs_mean": engine.batch_inputs_mean()})
    if "model_only" in modes:
        made = model_only.generated_tokens
        results["model_only"] = ModeResult(mode="model_only", peak_rss_mib=0.0, cells=cells["model_only"],
                                           memory_note="not measured: the model of (a), without its queue",
                                           generated_tokens_mean=sum(made) / len(made) if made else None)
    return [results[m] for m in modes]


def device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return f"{torch.cuda.get_device_name(0)}, {os.cpu_count()} CPU cores"
    return f"{platform.machine()} CPU, {os.cpu_count()} cores, no GPU"


def main(argv: list[str] | None = None) -> Report:
    args = parse_args(argv)
    started = time.monotonic()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = prepare_checkpoint(args)
    config = config_args(args.config)
    if args.device == "cpu" and without_gpus(config):
        print(f"--device cpu: the GPU asks of {args.config} are dropped; every stage runs on the CPU with the config's "
              "other settings", flush=True)
    order, linear = sweep_order(checkpoint)
    steps = read_manifest(checkpoint).training.get("steps")
    plan = Plan(
        checkpoint=str(checkpoint), seconds=args.seconds, rounds=args.rounds, concurrency=args.concurrency, head_counts=args.head_counts,
        heads_concurrency=args.heads_concurrency, batch_concurrency=args.batch_concurrency,
        batch_items=config.get("limits", {}).get("max_batch_items", 16) if args.batch_items is None else args.batch_items,
        heads_trained=None if steps is None else bool(steps), head_order=order, linear_heads=linear, device=args.device, dtype=args.dtype,
        batching=batching(config),
    )
    print(f"checkpoint {checkpoint}: heads {order} ({linear} linear); cells {[c.label for c in plan.cells()]}", flush=True)
    report = Report(plan=plan, started=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), device_name=device_name(args.device), modes=[],
                    cluster_env=args.cluster_env)
    with tempfile.TemporaryDirectory(prefix="wiyh-bench-") as work:
        memory = {m: probe_memory(m, plan, Path(work)) for m in args.modes if m in IN_PROCESS_MODES}
    report.modes = measure_all(args.modes, plan, config, memory, args.ray_cpus, args.cluster_env)
    from loadtests.engines import measure_bytes

    report.bytes_per_request = measure_bytes(checkpoint, checkpoint_requests(checkpoint, 10), replica_heads=len(order))
    report.goals = evaluate_goals(report)
    report.wall_s = round(time.monotonic() - started, 1)
    paths = write(report, args.out)
    print("\n" + markdown(report))
    print(f"wrote {', '.join(str(p) for p in paths)} ({report.wall_s:.0f} s)")
    return report


if __name__ == "__main__":
    main()
