"""Are stored inputs lost under load while every replica lives?

    python -m loadtests.lost_inputs [--concurrency 32] [--seconds 60] [--checkpoint DIR]

Serves deploy/serve_config.yaml with every head as its own replica (the fan-out, where hidden
states travel through the object store) on a private Ray cluster (loadtests.serving.LocalServe),
drives a closed loop of `--concurrency` clients for `--seconds`, and counts every answer by HTTP
status and by error message, the non-target heads' errors[] of a 200 included. An answer that
says "input was lost" is a failure unless a replica died meanwhile (the replica actors are read
from the GCS before and after). The exception class Ray raised in the head (ObjectFreedError,
OwnerDiedError, ReferenceCountingAssertionError, ...) is read from the router's log lines under
the cluster's temp dir. Exit status 1 when an input was lost and no replica died; the counts go
to stdout and to --out as JSON.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
LOST = "input was lost"
# RayEngine logs the class of the exception a head raised when it could not read its input.
LOST_CLASS = re.compile(r"lost its input: (\w+)")


class Tally(BaseModel):
    """Answers by status and by message; a message is counted once per answer that carries it."""

    answers: int = 0
    by_status: dict[str, int] = {}
    by_message: dict[str, int] = {}
    lost_target: int = 0  # 503: the target head could not read its input
    lost_non_target: int = 0  # 200 with a non-target head's errors[] saying so
    transport_errors: int = 0  # no HTTP answer at all

    @property
    def lost(self) -> int:
        return self.lost_target + self.lost_non_target

    def add(self, status: int | None, body: Any) -> None:
        self.answers += 1
        key = "no answer" if status is None else str(status)
        self.by_status[key] = self.by_status.get(key, 0) + 1
        if status is None:
            self.transport_errors += 1
        for message in messages_of(status, body):
            self.by_message[message] = self.by_message.get(message, 0) + 1
            if LOST in message:
                if status == 200:
                    self.lost_non_target += 1
                else:
                    self.lost_target += 1


def messages_of(status: int | None, body: Any) -> list[str]:
    """What an answer says went wrong: its error message, or each non-target head's in errors[]."""
    if status is None:
        return [f"no answer: {body}"]
    if status == 200:
        errors = body.get("errors") if isinstance(body, dict) else None
        return [f"{e.get('head')}: {e.get('message')}" for e in errors or [] if isinstance(e, dict)]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return [f"{status} {body['error'].get('message')}"]
    return [f"{status} {str(body)[:120]}"]


def lost_classes(log_dir: Path) -> dict[str, int]:
    """Exception classes in the 'lost its input' lines of every log under `log_dir`."""
    found: Counter[str] = Counter()
    for path in log_dir.rglob("*"):
        if path.suffix not in (".log", ".err", ".out") or not path.is_file():
            continue
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        found.update(LOST_CLASS.findall(text))
    return dict(found)


async def closed_loop(url: str, bodies: list[dict[str, Any]], concurrency: int, seconds: float, tally: Tally) -> None:
    """`concurrency` clients, each sending its next request as soon as the last one is answered."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    deadline = time.monotonic() + seconds
    order = itertools.cycle(bodies)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        async def client_loop() -> None:
            while time.monotonic() < deadline:
                body = next(order)
                try:
                    response = await client.post("/v1/predict", json=body)
                except httpx.HTTPError as err:
                    tally.add(None, type(err).__name__)
                    continue
                try:
                    answer: Any = response.json()
                except ValueError:
                    answer = response.text
                tally.add(response.status_code, answer)

        await asyncio.gather(*(client_loop() for _ in range(concurrency)))


def service_args(checkpoint: Path, heads: list[str]) -> dict[str, Any]:
    """deploy/serve_config.yaml's args, one replica per stage, every head its own replica."""
    from loadtests.serving import placement_args

    config = yaml.safe_load((ROOT / "deploy" / "serve_config.yaml").read_text())
    return placement_args(config["applications"][0]["args"], "replica", str(checkpoint), heads)


def replica_ids(app: str) -> dict[str, set[str]]:
    from loadtests.faults.replicas import alive_replicas

    ids: dict[str, set[str]] = {}
    for r in alive_replicas(app):
        ids.setdefault(r.deployment, set()).add(r.actor_id)
    return ids


def request_bodies(checkpoint: Path, asked: str) -> list[dict[str, Any]]:
    """The three settings' inputs; `asked` "all": each task with every head (the default request),
    "linear": target span with the other linear heads only, so a 2-core CPU answers enough requests
    per second to load the object-store path (random generative heads decode to their limit)."""
    from loadtests.checkpoints import sweep_order
    from loadtests.inputs import sample_requests, with_heads

    bodies = sample_requests(20)
    if asked == "all":
        return bodies
    order, linear = sweep_order(checkpoint)
    return [with_heads(b, order[0], order[1:linear]) for b in bodies]


def run(checkpoint: Path, concurrency: int, seconds: float, warmup_s: float, asked: str = "all") -> dict[str, Any]:
    from loadtests.serving import LocalServe
    from model.checkpoint import read_manifest

    heads = [h.name for h in read_manifest(checkpoint).heads]
    bodies = request_bodies(checkpoint, asked)
    with LocalServe() as local:
        url = local.deploy(service_args(checkpoint, heads), "wiyh")
        asyncio.run(closed_loop(url, bodies, min(concurrency, 4), warmup_s, Tally()))  # first batches, lazy imports
        before = replica_ids("wiyh")
        tally = Tally()
        load_before = os.getloadavg()
        started = time.monotonic()
        asyncio.run(closed_loop(url, bodies, concurrency, seconds, tally))
        elapsed = time.monotonic() - started
        load_after = os.getloadavg()
        after = replica_ids("wiyh")
        classes = lost_classes(Path(local.temp_dir))
    died = {d: len(ids - after.get(d, set())) for d, ids in before.items() if ids - after.get(d, set())}
    return {
        "checkpoint": str(checkpoint), "heads": heads, "placement": "replica", "heads_asked": asked, "concurrency": concurrency,
        "seconds": round(elapsed, 1), "answers_per_s": round(tally.answers / elapsed, 2),
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after]},
        "answers": tally.answers, "by_status": tally.by_status,
        "by_message": dict(sorted(tally.by_message.items(), key=lambda kv: -kv[1])),
        "lost_inputs": {"target_503": tally.lost_target, "non_target_errors": tally.lost_non_target},
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
    if not (args.checkpoint / "manifest.json").exists():
        from training.testing import make_random_checkpoint

        print(f"no checkpoint at {args.checkpoint}: making a random one of the tiny preset", file=sys.stderr)
        make_random_checkpoint(args.checkpoint)
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
