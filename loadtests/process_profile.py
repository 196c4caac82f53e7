"""Where a Serve mode's time goes: deploy it, load it, sample every serving process with py-spy
(dev extra) at once; print each process's CPU by category and its hottest functions.

    python -m loadtests.process_profile --placement replica --heads 4      # fan-out, target + 3 heads
    python -m loadtests.process_profile --placement colocated --heads 4 --concurrency 32 --ingress direct

Writes OUT/profile.md and each process's raw stacks (py-spy's collapsed format) next to it.
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from loadtests.measure import cmdline, ours, role
from loadtests.report import markdown_table
from loadtests.serving import CONFIG, ROOT, LocalServe, config_args, placement_args, require_checkpoint, sweep_order
from loadtests.traffic import Run, ServeCaller, checkpoint_requests, closed_loop, with_heads
from model.checkpoint import is_checkpoint
from service.deploy.cluster_env import DIRECT_INGRESS_CLUSTER_ENV

APP = "prof"
SECONDS = 12  # of py-spy sampling, under load started 3 s before
RATE = 50  # py-spy samples per second
# Leaf frame's file -> what the time was spent on; the first match wins.
CATEGORIES = (
    ("tokenize", ("tokenizers", "tokenization_", "model/encoding.py")),
    ("model compute", ("torch/", "transformers/", "model/")),
    ("hidden-state payload", ("service/replica/payload.py", "numpy/")),
    ("serialize", ("pickle", "cloudpickle", "pydantic", "msgpack", "serialization", "json/")),
    ("http", ("uvicorn", "starlette", "fastapi", "h11", "httptools", "httpx", "anyio")),
    ("asyncio", ("asyncio/", "uvloop", "selectors.py")),
    ("ray / serve", ("ray/",)),
    ("our service code", ("service/",)),
)


def profile_row(name: str, path: Path, top: int = 5) -> list[str]:
    """One process's row from py-spy's raw output (`frame;frame;...;leaf count` a line): CPU seconds,
    seconds per category of the leaf frame, the hottest leaf functions."""
    if not path.is_file():
        return [name, "-", "py-spy wrote nothing", ""]
    by_category: Counter = Counter()
    leaves: Counter = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            leaf = stack.split(";")[-1]
            by_category[next((category for category, needles in CATEGORIES if any(n in leaf for n in needles)), "other")] += int(count)
            leaves[leaf] += int(count)
    return [name, f"{sum(leaves.values()) / RATE:.1f}",
            ", ".join(f"{k} {n / RATE:.1f}" for k, n in by_category.most_common() if n / RATE >= 0.05),
            "; ".join(f"`{leaf[:70]}` {n / RATE:.1f}" for leaf, n in leaves.most_common(top))]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--placement", choices=["replica", "colocated"], default="replica")
    p.add_argument("--heads", type=int, default=0, help="heads per request, target first (0: every head, each input's task)")
    p.add_argument("--concurrency", type=int, default=8, help="clients; 0: no request at all (what the processes do idle)")
    p.add_argument("--ingress", choices=["proxy", "direct"], default="proxy",
                   help="direct: a cluster with Serve's direct ingress, the clients on the router replica's own port")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="default: the benchmark's 8-head checkpoint if it made one, else checkpoints/quick")
    p.add_argument("--config", type=Path, default=CONFIG, help="Serve config whose args the profiled app uses")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "profile")
    args = p.parse_args(argv)
    candidates = [args.checkpoint] if args.checkpoint else [ROOT / "reports/bench/checkpoint-8-heads", ROOT / "checkpoints/quick"]
    checkpoint = next((c.resolve() for c in candidates if is_checkpoint(c)), candidates[-1])
    require_checkpoint(p, checkpoint, "quick")
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        p.error("py-spy is not installed: pip install py-spy (it is in the dev extra)")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    order, _ = sweep_order(checkpoint)
    requests = checkpoint_requests(checkpoint, 10)
    if args.heads:
        requests = [with_heads(r, order[0], order[1:args.heads]) for r in requests]
    app_args = placement_args(config_args(args.config), args.placement, str(checkpoint), order, ingress=args.ingress)
    with LocalServe(serve_env=DIRECT_INGRESS_CLUSTER_ENV if args.ingress == "direct" else None) as local:
        caller = ServeCaller(local.deploy(app_args, APP))
        pids = {}
        for proc in ours()[1:]:
            found = role(cmdline(proc), APP)
            if found == "heads" and f"head_{order[0]}" in cmdline(proc):
                pids[f"head_{order[0]} ({'target' if args.heads else 'one head replica'})"] = proc.pid
            elif found in ("router", "backbone", "http_proxy", "serve_controller"):
                pids[found] = proc.pid
        pids["client (this process)"] = ours()[0].pid

        # the load on a thread of its own, so that waiting for py-spy delays no request; with no
        # clients, what every process does in the background (polling, health checks, metrics)
        with ThreadPoolExecutor(1) as pool:
            load = pool.submit(asyncio.run, closed_loop(caller, requests, args.concurrency, SECONDS + 6)) if args.concurrency else None
            time.sleep(3)  # warm: the first batches pay lazy initialisation
            spies = [subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(SECONDS), "--rate", str(RATE),
                                       "--format", "raw", "--nonblocking", "-o", str(out / f"{name.split()[0]}.txt")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, pid in pids.items()]
            for spy_process in spies:
                spy_process.wait()
            run = load.result() if load else Run([], SECONDS + 6)

    rows = [profile_row(name, out / f"{name.split()[0]}.txt") for name in pids]
    text = "\n".join([
        f"## Profile: {args.placement}, {args.ingress} ingress, {args.heads or len(order)} heads per request, c={args.concurrency}", "",
        f"{len(run.latencies_ms)} answers ({run.failures} failed) in {run.seconds:.1f} s = {len(run.latencies_ms) / run.seconds:.1f} "
        f"req/s; py-spy at {RATE} Hz for {SECONDS:g} s, CPU time only (idle threads not sampled).", "",
        *markdown_table(["process", "CPU s", "by category", "hottest functions (CPU s)"], rows)]) + "\n"
    (out / "profile.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
