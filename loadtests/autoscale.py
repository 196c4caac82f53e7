"""Autoscaling under a locust ramp: serve deploy/serve_config.autoscaling.yaml, drive it past one
backbone replica's capacity, hold, drop back; record the replica counts from serve.status() every
second and the latency from locust, and plot them together.

    python -m loadtests.autoscale                         # ~3 min: ramp 1 -> 16 users -> 1
    python -m loadtests.autoscale --ramp 1:10,24:60,1:60 --out reports/autoscale

Writes OUT/autoscale.png, autoscale.json, autoscale.md and locust's CSV files and HTML report.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import BaseModel

from loadtests.apps import ROOT, config_args
from loadtests.outputs import markdown_table, pyplot, save
from loadtests.processes import child_env
from loadtests.replicas import APP, replica_counts
from loadtests.serving import LocalServe
from loadtests.stages import DEFAULT_RAMP


class ReplicaSample(BaseModel):
    t: float  # unix seconds
    running: dict[str, int]  # deployment -> RUNNING replicas
    total: dict[str, int]  # deployment -> replicas in any state (starting, stopping included)


class LoadSample(BaseModel):
    t: float
    users: int
    rps: float
    failures_per_s: float
    p50_ms: float
    p95_ms: float


class Story(BaseModel):
    """What the run shows, in numbers."""

    deployment: str
    min_running: int
    max_running: int
    first_scale_up_s: float | None  # after the start of the load
    back_to_min_s: float | None  # after the peak load ended
    requests: int
    failures: int


class AutoscaleRun(BaseModel):
    """What autoscale.json holds: the story and both timelines it was told from."""

    story: Story
    replicas: list[ReplicaSample]
    load: list[LoadSample]


def _aggregated(path: Path) -> list[dict[str, str]]:
    """The rows of a locust CSV file that sum every request type."""
    with path.open(newline="") as fh:
        return [row for row in csv.DictReader(fh) if row.get("Name") == "Aggregated"]


def read_history(path: Path) -> list[LoadSample]:
    """Locust's --csv-full-history rows of the aggregated line: one per second, percentiles over
    locust's recent window; 'N/A' (no answers yet) becomes NaN."""
    def number(value: str) -> float:
        try:
            return float(value)
        except ValueError:
            return math.nan

    return [LoadSample(t=float(row["Timestamp"]), users=int(row["User Count"]), rps=number(row["Requests/s"]),
                       failures_per_s=number(row["Failures/s"]), p50_ms=number(row["50%"]), p95_ms=number(row["95%"]))
            for row in _aggregated(path)]


def read_totals(path: Path) -> tuple[int, int]:
    """(requests, failures) of the aggregated row of locust's _stats.csv."""
    rows = _aggregated(path)
    return (int(rows[0]["Request Count"]), int(rows[0]["Failure Count"])) if rows else (0, 0)


def tell_story(samples: list[ReplicaSample], load: list[LoadSample], deployment: str, requests: int, failures: int) -> Story:
    counts = [(s.t, s.running.get(deployment, 0)) for s in samples if deployment in s.running]
    if not counts:
        raise ValueError(f"no replica samples of deployment {deployment!r}")
    low = min(c for _, c in counts)
    high = max(c for _, c in counts)
    loaded = [l.t for l in load if l.users > 0]
    start = loaded[0] if loaded else counts[0][0]
    peak_users = max((l.users for l in load), default=0)
    peak_end = max((l.t for l in load if l.users == peak_users), default=None)
    up = next((t for t, c in counts if c > low and t >= start), None)
    down = next((t for t, c in counts if peak_end is not None and t >= peak_end and c == low), None) if high > low else None
    return Story(deployment=deployment, min_running=low, max_running=high,
                 first_scale_up_s=None if up is None else round(up - start, 1),
                 back_to_min_s=None if down is None else round(down - peak_end, 1),  # type: ignore[operator]
                 requests=requests, failures=failures)


def timeline(samples: list[ReplicaSample], load: list[LoadSample], deployment: str, every_s: float = 10) -> str:
    """A markdown table: every `every_s` seconds, users, replicas, throughput, latency, failures."""
    if not load:
        return ""
    def ms(v: float) -> str:
        return "-" if math.isnan(v) else f"{v:.0f}"

    t0, next_t, rows = load[0].t, load[0].t, []
    for l in load:
        if l.t < next_t:
            continue
        next_t = l.t + every_s
        replicas = [s.running.get(deployment, 0) for s in samples if abs(s.t - l.t) <= 1.0]
        rows.append([f"{l.t - t0:.0f}", l.users, max(replicas) if replicas else "-", f"{l.rps:.1f}", ms(l.p50_ms), ms(l.p95_ms),
                     f"{l.failures_per_s:.1f}"])
    return "\n".join(markdown_table(["t (s)", "users", "backbone replicas", "req/s", "p50 ms", "p95 ms", "failures/s"], rows))


def plot(samples: list[ReplicaSample], load: list[LoadSample], deployment: str, path: Path) -> Path:
    t0 = min([s.t for s in samples] + [l.t for l in load])
    fig, (ax1, ax2, ax3) = pyplot().subplots(3, 1, figsize=(9, 8), sharex=True)
    ax1.step([l.t - t0 for l in load], [l.users for l in load], where="post", color="tab:grey", label="locust users")
    ax1b = ax1.twinx()
    ax1b.plot([l.t - t0 for l in load], [l.rps for l in load], color="tab:green", label="answers/s")
    ax1b.plot([l.t - t0 for l in load], [l.failures_per_s for l in load], color="tab:red", label="failures/s")
    ax1.set_ylabel("users")
    ax1b.set_ylabel("requests / s")
    ax1.legend(loc="upper left", fontsize=8)
    ax1b.legend(loc="upper right", fontsize=8)
    ax2.step([s.t - t0 for s in samples], [s.running.get(deployment, 0) for s in samples], where="post", lw=2, label=f"{deployment} RUNNING")
    ax2.step([s.t - t0 for s in samples], [s.total.get(deployment, 0) for s in samples], where="post", ls="--", label=f"{deployment} all states")
    ax2.set_ylabel("replicas")
    ax2.set_yticks(range(0, max([s.total.get(deployment, 0) for s in samples] + [1]) + 2))
    ax2.legend(fontsize=8)
    ax3.plot([l.t - t0 for l in load], [l.p50_ms for l in load], label="p50")
    ax3.plot([l.t - t0 for l in load], [l.p95_ms for l in load], label="p95")
    ax3.set(ylabel="latency ms (locust, recent window)", xlabel="seconds since start")
    ax3.legend(fontsize=8)
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
    fig.suptitle("Autoscaling the backbone under a locust ramp")
    return save(fig, path)


def main(argv: list[str] | None = None) -> Story:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=ROOT / "deploy" / "serve_config.autoscaling.yaml")
    p.add_argument("--checkpoint", type=Path, default=None, help="default: the config's (checkpoints/quick) or $WIYH_CHECKPOINT")
    p.add_argument("--ramp", default=None, help="users:seconds,... (default loadtests/ramp.py's)")
    p.add_argument("--deployment", default="backbone", help="the deployment whose replicas the story follows")
    p.add_argument("--tail", type=float, default=45, help="seconds to keep watching after locust ends, until replicas are back to the minimum")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "autoscale")
    args = p.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    from ray import serve

    service_args = config_args(args.config)
    checkpoint = args.checkpoint or Path(os.environ.get("WIYH_CHECKPOINT") or ROOT / service_args["checkpoint"])
    service_args["checkpoint"] = str(checkpoint.resolve())
    samples: list[ReplicaSample] = []

    def sample() -> None:
        running, total = replica_counts(serve.status())
        samples.append(ReplicaSample(t=time.time(), running=running, total=total))

    with LocalServe() as local:
        url = local.deploy(service_args, APP)
        httpx.get(f"{url}/v1/heads", timeout=10).raise_for_status()
        print(f"serving {checkpoint} at {url}; ramp {args.ramp or DEFAULT_RAMP} (users:seconds)", flush=True)
        env = {**child_env(), "WIYH_RAMP": args.ramp or DEFAULT_RAMP}
        command = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "ramp.py"), "--headless", "--host", url,
                   "--csv", str(out / "locust"), "--csv-full-history", "--html", str(out / "locust.html"), "--only-summary",
                   "--loglevel", "WARNING"]
        locust = subprocess.Popen(command, cwd=ROOT, env=env)
        last_print = 0.0
        while locust.poll() is None:
            sample()
            if time.time() - last_print >= 10:
                last_print = time.time()
                print(f"  t={samples[-1].t - samples[0].t:5.0f} s  replicas running {samples[-1].running}", flush=True)
            time.sleep(1)
        # then until the followed deployment is back to its fewest replicas, none starting or stopping
        deadline, low = time.time() + args.tail, None
        while time.time() < deadline:
            sample()
            low = min(s.running.get(args.deployment, 0) for s in samples) if low is None else low
            if samples[-1].running.get(args.deployment) == low and samples[-1].total.get(args.deployment) == low:
                break
            time.sleep(1)

    load = read_history(out / "locust_stats_history.csv")
    requests, failures = read_totals(out / "locust_stats.csv")
    story = tell_story(samples, load, args.deployment, requests, failures)
    table = timeline(samples, load, args.deployment)
    (out / "autoscale.json").write_text(AutoscaleRun(story=story, replicas=samples, load=load).model_dump_json(indent=1))
    summary = (f"{story.deployment}: {story.min_running} -> {story.max_running} replicas; first scale-up {story.first_scale_up_s} s "
               f"after the load started; back to {story.min_running} {story.back_to_min_s} s after the peak ended; "
               f"{story.requests} requests, {story.failures} failed\n\n{table}\n")
    (out / "autoscale.md").write_text(summary)
    png = plot(samples, load, args.deployment, out / "autoscale.png")
    print("\n" + summary)
    print(f"wrote {png}, {out / 'autoscale.json'}, {out / 'autoscale.md'}, {out / 'locust.html'}")
    return story


if __name__ == "__main__":
    main()
