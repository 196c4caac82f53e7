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

from pydantic import BaseModel

from loadtests.report import markdown_table, pyplot, save, write_json
from loadtests.serving import APP, ROOT, LocalServe, config_args, replica_counts
from loadtests.traffic import DEFAULT_RAMP, parse_stages

CONFIG = ROOT / "deploy" / "serve_config.autoscaling.yaml"
DEPLOYMENT = "backbone"  # the deployment whose replicas the story follows
TAIL_S = 45  # how long to keep watching after locust ends, until the replicas are back to the minimum


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


class Story(BaseModel):  # what the run shows, in numbers
    deployment: str
    min_running: int
    max_running: int
    first_scale_up_s: float | None  # after the start of the load
    back_to_min_s: float | None  # after the peak load ended
    requests: int
    failures: int


class AutoscaleRun(BaseModel):  # autoscale.json: the story and both timelines it was told from
    story: Story
    replicas: list[ReplicaSample]
    load: list[LoadSample]


def read_locust(prefix: Path) -> tuple[list[LoadSample], int, int]:
    """The aggregated rows of locust's --csv-full-history, one a second ('N/A' percentiles become
    NaN), and the totals of _stats.csv: requests, failures."""
    def rows(path: Path) -> list[dict[str, str]]:
        with path.open(newline="") as fh:
            return [row for row in csv.DictReader(fh) if row.get("Name") == "Aggregated"]

    def number(value: str) -> float:
        try:
            return float(value)
        except ValueError:
            return math.nan

    history = [LoadSample(t=float(r["Timestamp"]), users=int(r["User Count"]), rps=number(r["Requests/s"]),
                          failures_per_s=number(r["Failures/s"]), p50_ms=number(r["50%"]), p95_ms=number(r["95%"]))
               for r in rows(Path(f"{prefix}_stats_history.csv"))]
    totals = rows(Path(f"{prefix}_stats.csv"))
    return history, *((int(totals[0]["Request Count"]), int(totals[0]["Failure Count"])) if totals else (0, 0))


def tell_story(samples: list[ReplicaSample], load: list[LoadSample], deployment: str, requests: int, failures: int) -> Story:
    counts = [(s.t, s.running.get(deployment, 0)) for s in samples if deployment in s.running]
    if not counts:
        raise ValueError(f"no replica samples of deployment {deployment!r}")
    low, high = min(c for _, c in counts), max(c for _, c in counts)
    loaded = [sample.t for sample in load if sample.users > 0]
    start = loaded[0] if loaded else counts[0][0]
    peak_users = max((sample.users for sample in load), default=0)
    peak_end = max((sample.t for sample in load if sample.users == peak_users), default=None)
    up = next((t for t, c in counts if c > low and t >= start), None)
    down = next((t for t, c in counts if peak_end is not None and t >= peak_end and c == low), None) if high > low else None
    return Story(deployment=deployment, min_running=low, max_running=high,
                 first_scale_up_s=None if up is None else round(up - start, 1),
                 back_to_min_s=None if down is None else round(down - peak_end, 1),  # type: ignore[operator]
                 requests=requests, failures=failures)


def timeline(samples: list[ReplicaSample], load: list[LoadSample], deployment: str, every_s: float = 10) -> str:
    """A markdown table: every `every_s` seconds, users, replicas, throughput, latency, failures."""
    def ms(v: float) -> str:
        return "-" if math.isnan(v) else f"{v:.0f}"

    rows, next_t = [], load[0].t if load else 0.0
    for sample in load:
        if sample.t < next_t:
            continue
        next_t = sample.t + every_s
        replicas = [s.running.get(deployment, 0) for s in samples if abs(s.t - sample.t) <= 1.0]
        rows.append([f"{sample.t - load[0].t:.0f}", sample.users, max(replicas) if replicas else "-", f"{sample.rps:.1f}",
                     ms(sample.p50_ms), ms(sample.p95_ms), f"{sample.failures_per_s:.1f}"])
    header = ["t (s)", "users", "backbone replicas", "req/s", "p50 ms", "p95 ms", "failures/s"]
    return "\n".join(markdown_table(header, rows)) if rows else ""


def plot(samples: list[ReplicaSample], load: list[LoadSample], path: Path) -> Path:
    t0 = min([s.t for s in samples] + [sample.t for sample in load])
    ts = [sample.t - t0 for sample in load]
    fig, (ax1, ax2, ax3) = pyplot().subplots(3, 1, figsize=(9, 8), sharex=True)
    ax1.step(ts, [sample.users for sample in load], where="post", color="tab:grey", label="locust users")
    ax1.set_ylabel("users")
    ax1b = ax1.twinx()
    ax1b.plot(ts, [sample.rps for sample in load], color="tab:green", label="answers/s")
    ax1b.plot(ts, [sample.failures_per_s for sample in load], color="tab:red", label="failures/s")
    ax1b.set_ylabel("requests / s")
    ax1b.legend(loc="upper right", fontsize=8)
    replica_ts, totals = [s.t - t0 for s in samples], [s.total.get(DEPLOYMENT, 0) for s in samples]
    ax2.step(replica_ts, [s.running.get(DEPLOYMENT, 0) for s in samples], where="post", lw=2, label=f"{DEPLOYMENT} RUNNING")
    ax2.step(replica_ts, totals, where="post", ls="--", label=f"{DEPLOYMENT} all states")
    ax2.set(ylabel="replicas", yticks=range(0, max(totals + [1]) + 2))
    ax3.plot(ts, [sample.p50_ms for sample in load], label="p50")
    ax3.plot(ts, [sample.p95_ms for sample in load], label="p95")
    ax3.set(ylabel="latency ms (locust, recent window)", xlabel="seconds since start")
    fig.suptitle("Autoscaling the backbone under a locust ramp")
    return save(fig, path, ax1, ax2, ax3, loc="upper left")


def watch(ramp: str, out: Path) -> list[ReplicaSample]:
    """Serve the autoscaling config under the locust ramp; the replica counts every second while
    locust runs, then until the followed deployment is back to its fewest replicas (or TAIL_S passed)."""
    from ray import serve

    args = config_args(CONFIG)
    checkpoint = Path(os.environ.get("WIYH_CHECKPOINT") or ROOT / args["checkpoint"])
    args["checkpoint"] = str(checkpoint.resolve())
    samples: list[ReplicaSample] = []
    with LocalServe() as local:
        url = local.deploy(args, APP)
        print(f"serving {checkpoint} at {url}; ramp {ramp} (users:seconds)", flush=True)
        command = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "ramp.py"), "--headless", "--host", url,
                   "--csv", str(out / "locust"), "--csv-full-history", "--html", str(out / "locust.html"), "--only-summary",
                   "--loglevel", "WARNING"]
        locust = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "WIYH_RAMP": ramp})
        low: int | None = None
        while True:
            running, total = replica_counts(serve.status())
            samples.append(ReplicaSample(t=time.time(), running=running, total=total))
            if locust.poll() is None:
                if len(samples) % 10 == 1:
                    print(f"  t={samples[-1].t - samples[0].t:5.0f} s  replicas running {running}", flush=True)
            else:
                if low is None:
                    deadline, low = time.time() + TAIL_S, min(s.running.get(DEPLOYMENT, 0) for s in samples)
                if running.get(DEPLOYMENT) == total.get(DEPLOYMENT) == low or time.time() >= deadline:
                    return samples
            time.sleep(1)


def main(argv: list[str] | None = None) -> Story:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ramp", default=DEFAULT_RAMP, help="users:seconds,... (default: %(default)s)")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "autoscale")
    args = p.parse_args(argv)
    try:
        parse_stages(args.ramp)
    except ValueError as err:
        p.error(str(err))
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    samples = watch(args.ramp, out)
    load, requests, failures = read_locust(out / "locust")
    story = tell_story(samples, load, DEPLOYMENT, requests, failures)
    write_json(AutoscaleRun(story=story, replicas=samples, load=load), out / "autoscale.json")
    summary = (f"{story.deployment}: {story.min_running} -> {story.max_running} replicas; first scale-up {story.first_scale_up_s} s "
               f"after the load started; back to {story.min_running} {story.back_to_min_s} s after the peak ended; "
               f"{story.requests} requests, {story.failures} failed\n\n{timeline(samples, load, DEPLOYMENT)}\n")
    (out / "autoscale.md").write_text(summary)
    png = plot(samples, load, out / "autoscale.png")
    print("\n" + summary)
    print(f"wrote {png}, {out / 'autoscale.json'}, {out / 'autoscale.md'}, {out / 'locust.html'}")
    return story


if __name__ == "__main__":
    main()
