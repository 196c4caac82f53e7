"""Soak: drive the service at a multiple of its measured capacity for minutes, and watch memory.

    python -m loadtests.soak [--duration 300] [--rate-multiplier 2] [--checkpoint checkpoints/quick]

Capacity is what a closed loop of 16 clients gets answered per second; the soak is an open loop at
the multiple, every cluster process's resident memory sampled. What must hold: nothing lost, the
excess refused with 503 + Retry-After at once, memory flat once warmed up. It prints the figures
and writes soak.json and soak.png, judging only lost requests (exit status 1).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from loadtests.measure import RssSample, Sampler
from loadtests.report import pyplot, save
from loadtests.runs import RunReport, run_served
from loadtests.serving import LocalServe, deploy_args, require_checkpoint, under_load
from loadtests.traffic import OPEN_LOOP, Http, Run, closed_loop, open_loop, target_requests

CAPACITY_CLIENTS = 16
CAPACITY_S = 20.0
SAMPLE_EVERY_S = 5.0


class MemoryStory(BaseModel):
    start_mb: float  # first sample under load
    first_minute_mean_mb: float
    middle_minute_mean_mb: float  # the minute from half-time: warmed up, autoscaled
    last_minute_mean_mb: float
    max_mb: float
    end_mb: float
    growth_last_vs_first_minute_mb: float
    growth_second_half_mb: float  # last minute vs the middle one: what a leak would show
    processes_start: int
    processes_end: int  # more at the end: Serve's autoscaler added a replica (by_process says which)
    by_process_start: dict[str, float]
    by_process_end: dict[str, float]


class SoakReport(RunReport):
    capacity_rps: float
    capacity_concurrency: int
    rate_multiplier: float
    rate_per_s: float
    duration_s: float
    slowest_answer_s: float  # the longest any request waited for its HTTP answer, whatever it was
    memory: MemoryStory
    rss: list[RssSample]


async def capacity_then_soak(service: LocalServe, url: str, args: argparse.Namespace) -> tuple[Run, dict[str, Any]]:
    """Capacity: 200s per second of a closed loop; then the open loop at the multiple, memory sampled."""
    bodies = target_requests()
    clients = Http(url)
    await closed_loop(clients, bodies, CAPACITY_CLIENTS, 5)  # warm-up
    measured = await closed_loop(clients, bodies, CAPACITY_CLIENTS, CAPACITY_S)
    cap = len(measured.latencies_ms) / measured.seconds
    rate = args.rate_multiplier * cap
    print(f"capacity {cap:.1f} req/s; soaking at {rate:.1f} req/s for {args.duration:g} s", flush=True)
    with Sampler(every_s=SAMPLE_EVERY_S) as memory:
        soaked = await open_loop(Http(url, OPEN_LOOP), bodies, rate, args.duration)
    return soaked, {"capacity_rps": round(cap, 2), "rate_per_s": round(rate, 2), "memory": memory_story(memory.samples),
                    "rss": memory.samples, "slowest_answer_s": round(max(o.latency_s for o in soaked.outcomes), 2),
                    "load": f"{rate:.1f} req/s ({args.rate_multiplier:g}x capacity) for {args.duration:g} s, open loop"}


def memory_story(samples: list[RssSample]) -> MemoryStory:
    """The samples' story: start, minute means (first, middle, last), growth, max, end."""
    totals = [(s.t, s.total_mb) for s in samples]
    end_t = totals[-1][0]

    def mean_over(start: float, stop: float, fallback: float) -> float:
        window = [mb for t, mb in totals if start <= t <= stop] or [fallback]
        return round(sum(window) / len(window), 1)

    first = mean_over(0, 60, totals[0][1])
    middle = mean_over(end_t / 2, end_t / 2 + 60, totals[len(totals) // 2][1])
    last = mean_over(end_t - 60, end_t, totals[-1][1])
    return MemoryStory(start_mb=totals[0][1], first_minute_mean_mb=first, middle_minute_mean_mb=middle,
                       last_minute_mean_mb=last, max_mb=max(mb for _, mb in totals), end_mb=totals[-1][1],
                       growth_last_vs_first_minute_mb=round(last - first, 1), growth_second_half_mb=round(last - middle, 1),
                       processes_start=samples[0].processes, processes_end=samples[-1].processes,
                       by_process_start=samples[0].by_process, by_process_end=samples[-1].by_process)


def plot(report: SoakReport, path: Path) -> None:
    """Memory by process over the soak, above what the requests got, second by second."""
    fig, (mem, req) = pyplot().subplots(2, 1, figsize=(10, 8), sharex=True)
    ts = [s.t for s in report.rss]
    mem.plot(ts, [s.total_mb for s in report.rss], label="all cluster processes", linewidth=2, color="black")
    top = sorted({k for s in report.rss for k in s.by_process}, key=lambda k: -max(s.by_process.get(k, 0) for s in report.rss))[:6]
    for key in top:
        mem.plot(ts, [s.by_process.get(key, 0) for s in report.rss], label=key, linewidth=1)
    mem.set(ylabel="resident memory (MiB)",
            title=f"Soak at {report.rate_multiplier:g}x capacity ({report.rate_per_s:.1f} req/s), {report.checkpoint}")
    # 5-second bins: per-second counts of an open loop against batches of ~1 s are mostly noise
    bins: dict[int, dict[str, float]] = {}
    for w in report.per_second:
        row = bins.setdefault(w.t // 5 * 5, {"ok": 0, "refused": 0, "other": 0, "lost": 0})
        for field in row:
            row[field] += getattr(w, field) / 5
    secs = sorted(bins)
    for field, color in (("ok", "tab:green"), ("refused", "tab:orange"), ("other", "tab:red"), ("lost", "black")):
        req.plot(secs, [bins[t][field] for t in secs], label={"ok": "200", "refused": "503"}.get(field, field), color=color)
    req.set(xlabel="seconds into the soak (requests by when they were sent, 5 s bins)", ylabel="requests per second")
    save(fig, path, mem, req)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=300.0, help="seconds of overload (default: %(default)s)")
    p.add_argument("--rate-multiplier", type=float, default=2.0, help="times the measured capacity (default: %(default)s)")
    p.add_argument("--checkpoint", type=Path, default=Path("checkpoints/quick"), help="default: %(default)s")
    p.add_argument("--out", type=Path, default=Path("reports/soak"), help="where soak.json and soak.png go (default: %(default)s)")
    args = p.parse_args(argv)
    require_checkpoint(p, args.checkpoint, "quick")
    print("starting a private Ray cluster and the app of deploy/serve_config.yaml ...", flush=True)
    report = run_served(SoakReport, under_load(), deploy_args(args.checkpoint),
                        lambda service, url: capacity_then_soak(service, url, args), checkpoint=str(args.checkpoint),
                        capacity_concurrency=CAPACITY_CLIENTS, rate_multiplier=args.rate_multiplier, duration_s=args.duration)
    m = report.memory
    capacity = f"{report.capacity_rps:.1f} req/s (closed loop, {report.capacity_concurrency} clients)"
    report.show(args.out / "soak.json", [("capacity", capacity)], [  # makes the folder
        ("slowest answer of any kind", f"{report.slowest_answer_s:.1f} s"),
        ("RSS, all cluster processes", f"start {m.start_mb:.0f} MiB, minute means: first {m.first_minute_mean_mb:.0f}, middle "
                                       f"{m.middle_minute_mean_mb:.0f}, last {m.last_minute_mean_mb:.0f} (second half "
                                       f"{m.growth_second_half_mb:+.0f}); max {m.max_mb:.0f}, end {m.end_mb:.0f}"),
        ("processes", f"{m.processes_start} at the start, {m.processes_end} at the end"),
        ("largest, start -> end", ", ".join(f"{k} {m.by_process_start.get(k, 0):.0f} -> {v:.0f}"
                                            for k, v in list(m.by_process_end.items())[:3]) + " MiB"),
    ])
    plot(report, args.out / "soak.png")
    print(f"plot: {args.out / 'soak.png'}")
    return 0 if report.tally.lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
