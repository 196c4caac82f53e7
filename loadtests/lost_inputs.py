"""Are stored inputs lost under load while every replica lives?

    python -m loadtests.lost_inputs [--concurrency 32] [--seconds 60] [--checkpoint DIR]

The fault runs' harness (runs.py) with no fault: every head its own replica (the fan-out, where
hidden states travel through the object store) under a closed loop. An answer that says "input was
lost" fails the run (exit status 1) unless a replica went away meanwhile; the router's log names
the exception class Ray raised in the head. The figures go to stdout and to --out as JSON.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import httpx

from loadtests.runs import RunReport, run_served
from loadtests.serving import LocalServe, config_args, placement_args, sweep_order, tiny_random
from loadtests.traffic import Http, Run, closed_loop, sample_requests, with_heads
from model.checkpoint import read_manifest


class LostInputsReport(RunReport):
    heads: list[str]
    heads_asked: str
    concurrency: int
    verdict: str = ""


def verdict(report: RunReport) -> tuple[int, str]:
    """The exit status and what it means: a lost input fails the run unless a replica went away."""
    lost = report.tally.inputs_lost_target + report.tally.inputs_lost_non_target
    if lost == 0:
        return 0, "PASS: no input was lost"
    if report.replicas_gone:
        return 0, f"{lost} inputs lost while replicas died ({report.replicas_gone}): expected, not counted"
    return 1, f"FAIL: {lost} inputs lost with no replica death ({report.inputs_lost_logged or 'class not logged'})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtests.lost_inputs", description=__doc__.split("\n\n")[0])
    # The tiny model answers many requests a second on 2 cores, and what loses an input is how many
    # stored inputs pass through Serve per second, not how big the model is.
    p.add_argument("--checkpoint", type=Path, default=Path("checkpoints/tiny-random"),
                   help="checkpoint to serve; when absent, a random one of the tiny preset is made there (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=32, help="closed-loop clients (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=60, help="length of the measured load (default: %(default)s)")
    # linear: a 2-core CPU then answers enough requests per second to load the object-store path
    # (random generative heads decode to their limit)
    p.add_argument("--heads", choices=("all", "linear"), default="all",
                   help="heads each request asks for: all, or the span target with the other linear heads (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("reports/lost_inputs.json"), help="JSON report (default: %(default)s)")
    args = p.parse_args(argv)
    if args.concurrency < 1 or args.seconds <= 0:
        p.error("--concurrency must be at least 1 and --seconds positive")
    heads = [h.name for h in read_manifest(tiny_random(args.checkpoint)).heads]
    bodies = sample_requests(20)
    if args.heads == "linear":
        order, linear = sweep_order(args.checkpoint)
        bodies = [with_heads(b, order[0], order[1:linear]) for b in bodies]

    async def closed(service: LocalServe, url: str) -> tuple[Run, dict[str, Any]]:
        http = Http(url, httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency))
        await closed_loop(http, bodies, min(args.concurrency, 4), 5)  # warm-up: first batches, lazy imports
        return await closed_loop(http, bodies, args.concurrency, args.seconds), {}

    report = run_served(LostInputsReport, LocalServe(), placement_args(config_args(), "replica", str(args.checkpoint), heads), closed,
                        checkpoint=str(args.checkpoint), heads=heads, heads_asked=args.heads, concurrency=args.concurrency,
                        load=f"{args.concurrency} clients, closed loop, for {args.seconds:g} s; heads asked: {args.heads}")
    code, report.verdict = verdict(report)
    report.show(args.out, after=[("verdict", report.verdict)])
    return code


if __name__ == "__main__":
    sys.exit(main())
