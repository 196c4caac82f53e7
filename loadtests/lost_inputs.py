"""Are stored inputs lost under load while every replica lives?

    python -m loadtests.lost_inputs [--concurrency 32] [--seconds 60] [--checkpoint DIR]

Serves deploy/serve_config.yaml with every head as its own replica (the fan-out, where hidden
states travel through the object store) on a private Ray cluster, drives a closed loop of
`--concurrency` clients for `--seconds`, and counts every answer by HTTP status and by error
message, the non-target heads' errors[] of a 200 included. An answer that says "input was lost" is
a failure unless a replica died meanwhile (the replica actors are read from the GCS before and
after). The exception class Ray raised in the head is read from the router's log lines. Exit
status 1 when an input was lost and no replica died; the counts go to stdout and to --out as JSON.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from loadtests.apps import config_args, placement_args
from loadtests.calls import Http
from loadtests.checkpoints import sweep_order, tiny_random
from loadtests.inputs import sample_requests, with_heads
from loadtests.loop import Run, closed_loop
from loadtests.replicas import APP, alive_replicas
from loadtests.serving import LocalServe, log_files
from loadtests.tally import tally

# RayEngine logs the class of the exception a head raised when it could not read its input.
LOST_CLASS = re.compile(r"lost its input: (\w+)")


def lost_classes(log_dir: Path) -> dict[str, int]:
    """Exception classes in the 'lost its input' lines of every log under `log_dir`."""
    found: Counter[str] = Counter()
    for path in log_files(log_dir):
        try:
            found.update(LOST_CLASS.findall(path.read_text(errors="replace")))
        except OSError:
            continue
    return dict(found)


def replica_ids(app: str) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {}
    for r in alive_replicas(app):
        ids.setdefault(r.deployment, set()).add(r.actor_id)
    return ids


def request_bodies(checkpoint: Path, asked: str) -> list[dict[str, Any]]:
    """The three settings' inputs; `asked` "all": each task with every head (the default request),
    "linear": target span with the other linear heads only, so a 2-core CPU answers enough requests
    per second to load the object-store path (random generative heads decode to their limit)."""
    bodies = sample_requests(20)
    if asked == "all":
        return bodies
    order, linear = sweep_order(checkpoint)
    return [with_heads(b, order[0], order[1:linear]) for b in bodies]


async def _load(url: str, bodies: list[dict[str, Any]], concurrency: int, seconds: float,
                warmup_s: float) -> tuple[Run, dict[str, set[str]], tuple[float, ...]]:
    """The measured run, after a warm-up, and the replicas and the load average before it."""
    http = Http(url, httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency))
    await closed_loop(http, bodies, min(concurrency, 4), warmup_s)  # first batches, lazy imports
    before = await asyncio.to_thread(replica_ids, APP)
    load_before = os.getloadavg()
    run = await closed_loop(http, bodies, concurrency, seconds)
    return run, before, load_before


def run(checkpoint: Path, concurrency: int, seconds: float, warmup_s: float, asked: str = "all") -> dict[str, Any]:
    from model.checkpoint import read_manifest

    heads = [h.name for h in read_manifest(checkpoint).heads]
    bodies = request_bodies(checkpoint, asked)
    with LocalServe() as local:
        url = local.deploy(placement_args(config_args(), "replica", str(checkpoint), heads), APP)
        measured, before, load_before = asyncio.run(_load(url, bodies, concurrency, seconds, warmup_s))
        load_after = os.getloadavg()
        after = replica_ids(APP)
        classes = lost_classes(local.temp_dir)
    counts = tally(measured.outcomes)
    died = {d: len(ids - after.get(d, set())) for d, ids in before.items() if ids - after.get(d, set())}
    return {
        "checkpoint": str(checkpoint), "heads": heads, "placement": "replica", "heads_asked": asked, "concurrency": concurrency,
        "seconds": round(measured.seconds, 1), "answers_per_s": round(counts.sent / measured.seconds, 2),
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after]},
        "answers": counts.sent, "by_status": counts.by_status, "by_message": counts.by_message,
        "lost_inputs": {"target_503": counts.inputs_lost_target, "non_target_errors": counts.inputs_lost_non_target},
        "lost_exception_classes": classes, "replicas_died": died,
    }


def verdict(report: dict[str, Any]) -> tuple[int, str]:
    lost = sum(report["lost_inputs"].values())
    if lost == 0:
        return 0, "PASS: no input was lost"
    if report["replicas_died"]:
        return 0, f"{lost} inputs lost while replicas died ({report['replicas_died']}): expected, not counted"
    return 1, f"FAIL: {lost} inputs lost with no replica death ({report['lost_exception_classes'] or 'class not logged'})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtests.lost_inputs", description=__doc__.split("\n\n")[0])
    # The tiny model answers many requests a second on 2 cores, and what loses an input is how many
    # stored inputs pass through Serve per second, not how big the model is.
    p.add_argument("--checkpoint", type=Path, default=Path("checkpoints/tiny-random"),
                   help="checkpoint to serve; when absent, a random one of the tiny preset is made there (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=32, help="closed-loop clients (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=60, help="length of the measured load (default: %(default)s)")
    p.add_argument("--heads", choices=("all", "linear"), default="all",
                   help="heads each request asks for: all, or the span target with the other linear heads (default: %(default)s)")
    p.add_argument("--warmup", type=float, default=5, help="seconds of light load before measuring (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("reports/lost_inputs.json"), help="JSON report (default: %(default)s)")
    args = p.parse_args(argv)
    if args.concurrency < 1 or args.seconds <= 0:
        p.error("--concurrency must be at least 1 and --seconds positive")
    tiny_random(args.checkpoint)
    report = run(args.checkpoint, args.concurrency, args.seconds, args.warmup, args.heads)
    code, line = verdict(report)
    report["verdict"] = line
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(line)
    return code


if __name__ == "__main__":
    sys.exit(main())
