"""The serving benchmark: one run, one machine, one checkpoint, four ways to serve it.

    a. inprocess  the multi-task model in one process behind the backbone's micro-batching (the limit)
    b. fanout     the Serve application, every head its own deployment (hidden states via the object store)
    c. colocated  the Serve application, every head inside the backbone replica
    c3. colocated_direct  the same, the clients on the router replica's own port (Serve's direct
                  ingress: no proxy hop; the whole cluster then runs with it)
    d. per_task   one full model per head (a backbone copy each, run once per head), in one process

For each: throughput, p50 / p95 / p99 at concurrency 1, 8, 32; peak memory; the ratio to (a).
Then the cost of heads: 1, 2, 4, 8 heads per request over the same backbone; then the batch
endpoint (/v1/predict/batch, limits.max_batch_items items a request, 4 heads) in items/s. The
checkpoint is checkpoints/quick plus two random linear heads (eight in all; loadtests/checkpoints.py).

    python -m loadtests.bench                                  # about 21 min on 2 cores
    python -m loadtests.bench --seconds 3 --modes inprocess,colocated --out reports/bench-quick

Every mode is up at once and the cells run interleaved (mode after mode, cell after cell, in
rounds), so other work on a shared machine weighs on every mode alike. Writes OUT/bench.md,
bench.json and PNG plots, and prints the table and the goals. Numbers depend
on the machine and on what else runs (the table says how busy other processes kept the CPU);
compare rows of one run only. Not a test: nothing here asserts a speed.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from loadtests.checkpoints import sweep_order, with_extra_heads
from loadtests.results import IN_PROCESS_MODES, MODES, NOT_BY_DEFAULT, SERVE_MODES, Batching, ModeResult, Plan, Report

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None, help="default: checkpoints/quick, else a random quick-sized one")
    p.add_argument("--backbone-path", type=Path, default=None,
                   help="with no trained checkpoint: a local pre-trained encoder to put random heads on (scripts/gpu/bench.sh)")
    p.add_argument("--heads", type=int, default=8, help="random linear heads are added up to this many heads (0: none added)")
    p.add_argument("--config", type=Path, default=ROOT / "deploy" / "serve_config.yaml", help="Serve config whose args the Serve modes use")
    p.add_argument("--modes", default=",".join(m for m in MODES if m not in NOT_BY_DEFAULT),
                   help=f"comma-separated subset of {','.join(MODES)} (default: all but {','.join(NOT_BY_DEFAULT)})")
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--head-counts", default="1,2,4,8")
    p.add_argument("--heads-concurrency", type=int, default=32, help="the sweep's concurrency; the goals are read at 4 heads there")
    p.add_argument("--batch-items", type=int, default=None,
                   help="items per /v1/predict/batch request in the batch cell (4 heads; default: the config's "
                        "limits.max_batch_items; 0: no batch cell); the cell counts items/s")
    p.add_argument("--batch-concurrency", type=int, default=2, help="clients of the batch cell")
    p.add_argument("--seconds", type=float, default=8.0, help="per cell over all rounds; requests in flight then finish")
    p.add_argument("--rounds", type=int, default=2, help="cells run interleaved this many times, so a burst of other load hits them alike")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="in-process engines; Serve stages follow the config's num_gpus")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"], help="autocast type of the in-process engines")
    p.add_argument("--ray-cpus", type=int, default=None,
                   help="logical CPUs of the benchmark's Ray node (default: the machine's, or what every application asks "
                        "together if that is more); more lets the GPU config's "
                        "CPU asks fit when its structure is tried on a small CPU machine")
    p.add_argument("--cluster-env", action="append", default=[], metavar="KEY=VALUE",
                   help="more environment for the Serve cluster's processes, as `ray start` would get it (repeatable; "
                        "e.g. RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD=0): Serve's flags are cluster-wide, so "
                        "compare two settings in two runs back to back")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    args = p.parse_args(argv)
    try:
        args.cluster_env = dict(item.split("=", 1) for item in args.cluster_env)
    except ValueError:
        p.error(f"--cluster-env takes KEY=VALUE, got {args.cluster_env}")
    args.modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(args.modes) - set(MODES))
    if unknown:
        p.error(f"unknown modes {unknown}; valid: {list(MODES)}")
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]  # "": the head sweep only
    args.head_counts = [int(k) for k in args.head_counts.split(",") if k]
    return args


def prepare_checkpoint(args: argparse.Namespace) -> Path:
    source = args.checkpoint or ROOT / "checkpoints" / "quick"
    if not (source / "manifest.json").is_file():
        from loadtests.checkpoints import random_heads_checkpoint

        source = args.out / "checkpoint-random-heads"
        print(f"no trained checkpoint: writing the quick preset's model with random heads to {source}", flush=True)
        random_heads_checkpoint(source, args.backbone_path)
    from model.checkpoint import read_manifest

    extra = args.heads - len(read_manifest(source).heads)
    if extra <= 0:
        return source
    out = with_extra_heads(source, args.out / f"checkpoint-{args.heads}-heads", extra)
    print(f"{source} with {extra} random linear heads: {out}", flush=True)
    return out


def run_in_process(mode: str, plan: Plan, work: Path) -> ModeResult:
    """`plan` for one in-process mode alone, in a child process, so that its peak memory is its own."""
    plan_path, out_path = work / "plan.json", work / f"{mode}.json"
    plan_path.write_text(plan.model_dump_json())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-m", "loadtests.inprocess_run", mode, str(plan_path), str(out_path)], check=True, cwd=ROOT, env=env)
    return ModeResult.model_validate(json.loads(out_path.read_text()))


def probe_memory(mode: str, plan: Plan, work: Path) -> ModeResult:
    """Peak memory of an in-process mode: a short run at c=8 with every head, alone in a child."""
    probe = plan.model_copy(update={"seconds": 3.0, "rounds": 1, "concurrency": [8], "head_counts": [], "batch_items": 0})
    print(f"{mode}: peak memory, alone in a child process", flush=True)
    return run_in_process(mode, probe, work)


def _app_args(mode: str, base_args: dict, plan: Plan, gpu_share: float) -> dict:
    """The Serve application's `args:` for one mode."""
    from loadtests.serving import placement_args

    args = placement_args(base_args, "replica" if mode == "fanout" else "colocated", plan.checkpoint, plan.head_order,
                          gpu_share=gpu_share, backbone_placement="replica" if mode == "colocated_split" else None)
    if mode == "colocated_direct":
        args["router"]["ingress"] = "direct"
    return args


def measure_all(modes: list[str], plan: Plan, base_args: dict, memory: dict[str, ModeResult], ray_cpus: int | None = None,
                cluster_env: dict[str, str] | None = None) -> list[ModeResult]:
    """Every mode up at once (Serve apps side by side under their own route prefixes, the
    in-process engines in this process), measured cell by cell, mode by mode, interleaved."""

    from loadtests import host
    from loadtests.cells import Target, run_interleaved
    from loadtests.engines import InProcess, ModelOnly, PerTaskModels
    from loadtests.inputs import sample_requests
    from loadtests.measure import PeakSampler, gpu_memory_used_mib, serve_replica_rss
    from loadtests.serving import LocalServe, ServeCaller, cpu_asked

    ENGINES = {"inprocess": InProcess, "model_only": ModelOnly, "per_task": PerTaskModels}

    base = sample_requests(plan.requests_per_setting)
    served = [m for m in modes if m in SERVE_MODES]
    samplers: dict[str, PeakSampler] = {}
    targets: dict[str, Target] = {}
    engines = {}
    gpu_note = ""
    from service.deploy.cluster_env import DIRECT_INGRESS_CLUSTER_ENV, SERVE_CLUSTER_ENV

    # The cluster environment a deployment gets from the demo's `ray start` (cluster_env.py);
    # direct ingress is cluster-wide, so with colocated_direct every Serve mode runs with it (the
    # proxy keeps serving the others, and their replicas listen on a port nobody calls).
    env = {**(DIRECT_INGRESS_CLUSTER_ENV if "colocated_direct" in served else SERVE_CLUSTER_ENV), **(cluster_env or {})}
    # Every application up at once fits one GPU: each asks for its share of it.
    share = 1.0 / len(served) if plan.device == "cuda" and served else 1.0
    app_args = {mode: _app_args(mode, base_args, plan, share) for mode in served}
    if ray_cpus is None and served:
        # Logical CPUs are Ray's bookkeeping: every application must fit them at once or the last
        # one stays pending (fan-out 1.4 + colocated 0.6 + colocated direct 0.6 > 2 cores here).
        asked = sum(cpu_asked(a, len(plan.head_order) if m == "fanout" else 0) for m, a in app_args.items())
        ray_cpus = max(os.cpu_count() or 1, math.ceil(asked))
    if served:
        print(f"Ray is given {ray_cpus} logical CPUs", flush=True)
    local = LocalServe(num_cpus=ray_cpus, serve_env=env).__enter__() if served else None
    urls: dict[str, str] = {}
    try:
        if local is not None:
            for mode, args in app_args.items():
                t0 = time.monotonic()
                samplers[mode] = PeakSampler(lambda app=f"bench-{mode}": serve_replica_rss(app)).__enter__()
                deploy = local.deploy_direct if mode == "colocated_direct" else local.deploy
                urls[mode] = deploy(args, f"bench-{mode}", route_prefix=f"/{mode}")
                print(f"  {mode}: deployed and ready in {time.monotonic() - t0:.0f} s", flush=True)
            if plan.device == "cuda":
                gpu_note = f"; GPU: {gpu_memory_used_mib():.0f} MiB in use on the device with every mode loaded"
        for mode in modes:
            if mode in ENGINES:
                engines[mode] = ENGINES[mode](Path(plan.checkpoint), plan.batching, plan.device, plan.dtype)
            else:
                caller = ServeCaller(urls[mode])
                targets[mode] = Target(caller, caller.breakdown, cpu=lambda app=f"bench-{mode}": host.serve(app))
        for mode, engine in engines.items():
            if isinstance(engine, ModelOnly):
                # its CPU per input is what the model alone costs: the others' host cost is what they spend beyond it
                targets[mode] = Target(call=None, loop=engine.loop, cpu=host.in_process)  # type: ignore[arg-type]
                continue

            targets[mode] = Target(engine, cpu=host.in_process)
        # As Serve does in every replica once it is built (RAY_SERVE_FREEZE_GC_ON_STARTUP, on by
        # default): what was loaded lives for the whole run, so the collector stops scanning it.
        # Without this, the in-process engine shares its heap with the Ray driver and the models,
        # and one full collection (0.39 s of CPU, measured) landed in whichever stage allocated.
        gc.collect()
        gc.freeze()
        ordered = {m: targets[m] for m in modes}
        print(f"measuring {list(ordered)} interleaved: {plan.rounds} rounds of {len(plan.cells())} cells", flush=True)
        cells = asyncio.run(run_interleaved(ordered, plan, base))
    finally:
        for sampler in samplers.values():
            sampler.__exit__(None, None, None)
        if local is not None:
            local.__exit__(None, None, None)
    results = []
    for mode in modes:
        if mode == "model_only":
            made = engines[mode].generated_tokens
            results.append(ModeResult(mode=mode, peak_rss_mib=0.0, cells=cells[mode],
                                      memory_note="not measured: the model of (a), without its queue",
                                      generated_tokens_mean=sum(made) / len(made) if made else None))
        elif mode in engines:
            probe = memory[mode]
            results.append(ModeResult(mode=mode, peak_rss_mib=probe.peak_rss_mib, peak_gpu_mib=probe.peak_gpu_mib,
                                      memory_note=probe.memory_note + " (measured alone in a child process)", cells=cells[mode],
                                      batch_inputs_mean=engines[mode].batch_inputs_mean()))
        else:
            results.append(ModeResult(mode=mode, peak_rss_mib=samplers[mode].peak, cells=cells[mode],
                                      memory_note="sum of the Serve replica processes' RSS (router, backbone, heads; Ray's "
                                                  "controller, proxy and raylet not counted)" + gpu_note))
    return results


def without_gpus(config: dict) -> bool:
    """Drop every stage's num_gpus from the config's args (to run the GPU config's structure on a
    CPU); True when there was one."""
    heads = config.get("heads", {})
    stages = [config.get("backbone", {}), heads.get("default", {}), *(heads.get("overrides") or {}).values()]
    found = False
    for stage in stages:
        if isinstance(stage, dict) and stage.pop("num_gpus", 0):
            found = True
    return found


def device_name(device: str) -> str:
    import platform

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
    config = yaml.safe_load(args.config.read_text())["applications"][0]["args"]
    if args.device == "cpu" and without_gpus(config):
        print(f"--device cpu: the GPU asks of {args.config} are dropped; every stage runs on the CPU with the config's "
              "other settings", flush=True)
    batching = config["backbone"].get("batching", {})
    order, linear = sweep_order(checkpoint)
    from model.checkpoint import read_manifest

    steps = read_manifest(checkpoint).training.get("steps")
    plan = Plan(
        checkpoint=str(checkpoint), seconds=args.seconds, rounds=args.rounds, concurrency=args.concurrency, head_counts=args.head_counts,
        heads_concurrency=args.heads_concurrency, batch_concurrency=args.batch_concurrency,
        batch_items=config.get("limits", {}).get("max_batch_items", 16) if args.batch_items is None else args.batch_items,
        heads_trained=None if steps is None else bool(steps), head_order=order, linear_heads=linear, device=args.device, dtype=args.dtype,
        batching=Batching(max_batch_size=batching.get("max_batch_size", 16), wait_s=batching.get("batch_wait_timeout_s", 0.002),
                          torch_threads=config["backbone"].get("torch_threads")),
    )
    print(f"checkpoint {checkpoint}: heads {order} ({linear} linear); cells {[c.label for c in plan.cells()]}", flush=True)
    report = Report(plan=plan, started=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), device_name=device_name(args.device), modes=[],
                    cluster_env=args.cluster_env)
    modes = [m for m in MODES if m in args.modes]
    with tempfile.TemporaryDirectory(prefix="wiyh-bench-") as work:
        memory = {m: probe_memory(m, plan, Path(work)) for m in modes if m in IN_PROCESS_MODES}
    report.modes = measure_all(modes, plan, config, memory, args.ray_cpus, args.cluster_env)

    from loadtests.bytes_moved import measure_bytes
    from loadtests.inputs import sample_requests
    from loadtests.report import evaluate_goals, markdown, write

    report.bytes_per_request = measure_bytes(checkpoint, sample_requests(10), replica_heads=len(order))
    report.goals = evaluate_goals(report)
    report.wall_s = round(time.monotonic() - started, 1)
    paths = write(report, args.out)
    print("\n" + markdown(report))
    print(f"wrote {', '.join(str(p) for p in paths)} ({report.wall_s:.0f} s)")
    return report


if __name__ == "__main__":
    main()
