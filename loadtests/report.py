"""How the load scripts show what they measured (aligned rows, markdown tables, PNGs, JSON), and
the benchmark's verdicts: its goals, tables and plots.

    python -m loadtests.report OUT/bench.json      # re-render a run's markdown and plots
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel

from loadtests.results import CPU, CPU_PER_S, LABELS, TOTAL, WITH_BACKGROUND, Cell, CellResult, Goal, ModeResult, Report


def aligned(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)} | {v}" for k, v in rows)


def markdown_table(header: list[str], rows: Iterable[Iterable[object]]) -> list[str]:
    def line(cells: Iterable[object]) -> str:
        return "|" + "|".join(f" {c} " if str(c) else " " for c in cells) + "|"

    return [line(header), "|" + "---|" * len(header), *map(line, rows)]


def pyplot() -> Any:
    """matplotlib's pyplot, drawing into files (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path, *axes: Any, **legend: Any) -> Path:
    """Write `fig` to `path`, each of `axes` gridded and with its legend (`legend`: its options)."""
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(**{"fontsize": 8, **legend})
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


def write_json(model: BaseModel, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(model.model_dump_json(indent=1) + "\n")
    return path


def _throughput(mode: ModeResult | None, cell: Cell) -> float | None:
    found = mode.at(cell) if mode else None
    return found.summary.throughput if found and found.summary.requests else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _relative(mode: ModeResult | None, to: ModeResult | None, cell: Cell) -> float | None:
    return _ratio(_throughput(mode, cell), _throughput(to, cell))


def _goal(name: str, value: float | None, threshold: float, higher_is_better: bool, detail: str = "") -> Goal:
    met = None if value is None or math.isnan(value) else (value >= threshold if higher_is_better else value <= threshold)
    return Goal(name=name, value=value, threshold=threshold, higher_is_better=higher_is_better, met=met, detail=detail)


def per_head_cost(mode: ModeResult | None, concurrency: int, counts: list[int], linear_heads: int) -> tuple[float | None, str]:
    """Throughput lost per extra linear head, compounded: 1 - (thr(k) / thr(1)) ** (1 / (k - 1)),
    k the largest measured head count whose heads are all linear."""
    linear = sorted(k for k in counts if 1 < k <= linear_heads)
    if mode is None or 1 not in counts or not linear:
        return None, "needs head counts 1 and k>1 of linear heads"
    k = linear[-1]
    one, many = _throughput(mode, Cell(concurrency=concurrency, heads=1)), _throughput(mode, Cell(concurrency=concurrency, heads=k))
    if not one or not many:
        return None, "not measured"
    return 1 - (many / one) ** (1 / (k - 1)), f"1 -> {k} linear heads: {one:.1f} -> {many:.1f} req/s"


def cpu_ms(mode: ModeResult | None, cell: Cell, process: str = TOTAL) -> float | None:
    """CPU ms per request of one process of the mode, or of all of them (measure.py)."""
    found = mode.at(cell) if mode else None
    return found.breakdown.get(f"{CPU}{process}") if found else None


def host_ms(mode: ModeResult | None, model_only: ModeResult | None, cell: Cell) -> float | None:
    """CPU ms per request beyond the model: the mode's, less the model alone's at the same cell."""
    total, model = cpu_ms(mode, cell), cpu_ms(model_only, cell)
    return None if total is None or model is None else total - model


def evaluate_goals(report: Report) -> list[Goal]:
    plan = report.plan
    inproc, fanout, colocated, per_task, model_only, direct = (
        report.mode(m) for m in ("inprocess", "fanout", "colocated", "per_task", "model_only", "colocated_direct"))
    top = plan.goal_cell()
    at = f"at {top.label}"
    goals = [
        _goal(f"colocated / in-process throughput {at}", _relative(colocated, inproc, top), 0.8, True),
        _goal(f"fan-out / in-process throughput {at}", _relative(fanout, inproc, top), 0.6, True),
        _goal(f"in-process host CPU ms per request {at}", host_ms(inproc, model_only, top), 3.0, False,
              "beyond the model alone (needs the model_only mode); the clients' loop included"),
        _goal(f"colocated host CPU ms per request {at}", host_ms(colocated, model_only, top), 8.0, False,
              "beyond the model alone, every process of the mode (proxy and Ray's raylet/GCS included)"),
    ]
    if direct is not None:
        goals += [_goal(f"colocated, direct ingress / in-process throughput {at}", _relative(direct, inproc, top), 0.8, True),
                  _goal(f"colocated, direct ingress, host CPU ms per request {at}", host_ms(direct, model_only, top), 8.0, False,
                        "as above, with no proxy hop")]
    if model_only is not None:
        goals.append(_goal(f"in-process / model-only throughput {at}", _relative(inproc, model_only, top), 0.3, True,
                           "the GPU goal; on a CPU the forward pass itself is the limit"))
    four = Cell(concurrency=plan.heads_concurrency, heads=4)
    goals.append(_goal("fan-out / one-model-per-task throughput, 4 heads", _relative(fanout, per_task, four), 2.5, True,
                       f"at c={plan.heads_concurrency}"))
    if plan.batch_items:
        batch = plan.batch_cell()
        for mode in (m for m in (colocated, fanout) if m is not None):
            goals.append(_goal(f"{mode.mode}: /v1/predict/batch items/s at {batch.label}", _throughput(mode, batch), 20000, True,
                               "the GPU goal (one H100 or H200)"))
    for mode in (m for m in (fanout, colocated) if m is not None):
        found = mode.at(Cell(concurrency=8))
        value = found.summary.p99_ms / found.summary.p50_ms if found and found.summary.requests else None
        goals.append(_goal(f"{mode.mode}: p99 / p50 at c=8", value, 2.0, False,
                           f"p50 {found.summary.p50_ms:.0f} ms, p99 {found.summary.p99_ms:.0f} ms" if found else ""))
    for mode in (m for m in (inproc, colocated, fanout) if m is not None):
        cost, detail = per_head_cost(mode, plan.heads_concurrency, plan.head_counts, plan.linear_heads)
        goals.append(_goal(f"{mode.mode}: throughput cost of one more linear head", cost, 0.05, False, detail))
    return goals


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _ms(found: CellResult, *fields: str) -> list[str]:
    return [_fmt(getattr(found.summary, f), ".0f") for f in fields]


def _vs(mode: ModeResult, found: CellResult, inproc: ModeResult | None) -> str:
    """Throughput as a multiple of the in-process mode's at the same cell."""
    ratio = 1.0 if mode.mode == "inprocess" else _ratio(found.summary.throughput, _throughput(inproc, found.cell))
    return f"{_fmt(ratio, '.2f')}x"


def markdown(report: Report) -> str:
    plan, inproc, model_only = report.plan, report.mode("inprocess"), report.mode("model_only")
    lines = [
        f"## Serving benchmark ({report.started}, {report.device_name})",
        "",
        f"checkpoint `{plan.checkpoint}`; {plan.seconds:g} s per cell in {plan.rounds} interleaved rounds; batches of {plan.batching.max_batch_size}, "
        f"{plan.batching.wait_s * 1000:g} ms wait; {plan.dtype} on {plan.device}. Every request asks every head "
        f"({len(plan.head_order)}) unless a head count is given. Ratios are to (a) at the same cell."
        + (f" Serve cluster environment beyond cluster_env.py: {report.cluster_env}." if report.cluster_env else ""),
        "",
    ]

    def memory(m: ModeResult) -> str:
        return f"{m.peak_rss_mib:.0f}" + (f" (GPU {m.peak_gpu_mib:.0f})" if m.peak_gpu_mib is not None else "")

    rows = [[LABELS[m.mode], r.cell.label, f"{r.summary.throughput:.1f}", *_ms(r, "p50_ms", "p95_ms", "p99_ms"), _vs(m, r, inproc),
             r.summary.failures, memory(m), f"{r.foreign_cpu:.0%}"] for m in report.modes for r in m.cells if not r.cell.heads]
    lines += markdown_table(["mode", "cell", "req/s", "p50 ms", "p95 ms", "p99 ms", "vs (a)", "failed", "peak MiB", "other load"], rows)
    if model_only is not None:
        trained = {True: "trained heads: they stop at the lengths they learnt",
                   False: "random heads: a decoder writes until max_target_tokens or a chance EOS",
                   None: "heads trained or not: unknown"}[plan.heads_trained]
        made = model_only.generated_tokens_mean
        lines += ["", "(0) runs the backbone and the same heads on batches tokenised beforehand, back to back (batches of "
                      f"min(c, {plan.batching.max_batch_size})), no queue and no decoding to text: the ceiling. Generative heads: "
                      f"{trained}" + (f"; {made:.1f} tokens per input on average." if made is not None else ".")]
    counts = [k for k in plan.head_counts if k <= len(plan.head_order)]
    if counts:
        lines += ["", f"Cost against the number of heads (req/s at c={plan.heads_concurrency}, target `{plan.head_order[0]}`; "
                      f"heads in order {', '.join(plan.head_order)}; the first {plan.linear_heads} are linear):", ""]
        rows = [[LABELS[m.mode], *(_fmt(_throughput(m, Cell(concurrency=plan.heads_concurrency, heads=k))) for k in counts)]
                for m in report.modes]
        lines += markdown_table(["mode", *(f"{k} head{'s' if k > 1 else ''}" for k in counts)], rows)
    if plan.batch_items:
        batch = plan.batch_cell()
        lines += ["", f"The batch endpoint (`/v1/predict/batch`): {batch.items} items a request, the first {batch.heads} heads, "
                      f"{batch.concurrency} clients; throughput in items/s, latency per request ((0): its batches of "
                      f"min({batch.concurrency * batch.items}, {plan.batching.max_batch_size}) inputs):", ""]
        rows = [[LABELS[m.mode], f"{r.summary.throughput:.1f}", *_ms(r, "p50_ms", "p99_ms"), _vs(m, r, inproc), r.summary.failures]
                for m in report.modes if (r := m.at(batch)) is not None]
        lines += markdown_table(["mode", "items/s", "p50 ms", "p99 ms", "vs (a)", "failed items"], rows)
    if report.goals:
        verdicts = {True: "met", False: "**missed**", None: "not measured"}
        rows = [[g.name, _fmt(g.value, ".3f"), f"{'>=' if g.higher_is_better else '<='} {g.threshold:g}", f"{verdicts[g.met]} {g.detail}"]
                for g in report.goals]
        lines += ["", *markdown_table(["goal", "measured", "wanted", ""], rows)]
    lines += host_cost_table(report, plan.goal_cell())
    b = report.bytes_per_request
    if b:
        lines += ["", f"Hidden states stored per request for head replicas ({b.requests} requests, {b.tokens_mean:.0f} real tokens on average): "
                      f"{b.stored_float32 / 1024:.1f} KiB float32, {b.stored_float16 / 1024:.1f} KiB float16 (the GPU config), "
                      f"vs {b.padded_float32 / 1024:.1f} KiB padded float32; stored once and read by {b.replica_heads} head replicas in fan-out; "
                      f"a classification head alone needs {b.cls_only_float16 / 1024:.2f} KiB (float16, first token)."]
    foreign = [r.foreign_cpu for m in report.modes for r in m.cells]
    if foreign:
        lines += ["", f"Other processes used {min(foreign):.0%}-{max(foreign):.0%} of the machine's CPU during the cells "
                      f"(mean {sum(foreign) / len(foreign):.0%}); compare rows of one run only."]
    where = [(m, r) for m in report.modes for r in m.cells if r.breakdown and not r.cell.heads]
    if where:
        lines += ["", "Where the time goes in the Serve modes: CPU ms per request by process (`cpu_ms_per_request.*`; "
                      "2 cores give 2000 CPU ms per second), and the answers' mean `timings_ms`:", ""]
        for m, r in where:
            cpu = {k[len(CPU):]: v for k, v in r.breakdown.items() if k.startswith(CPU)}
            timing = {k: v for k, v in r.breakdown.items() if not k.startswith((CPU, CPU_PER_S))}
            lines.append(f"- {m.mode} {r.cell.label}: CPU " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))
                         + "; timings " + ", ".join(f"{k} {v:.0f}" for k, v in timing.items()))
    lines += [f"- peak MiB, {m.mode}: {m.memory_note}" for m in report.modes if m.memory_note]
    return "\n".join(lines) + "\n"


def host_cost_table(report: Report, cell: Cell) -> list[str]:
    """CPU ms per request by process (rows) and mode (columns) at `cell`, and what that is beyond
    the model alone."""
    modes = [m for m in report.modes if cpu_ms(m, cell) is not None]
    if not modes:
        return []
    processes = sorted({k[len(CPU):] for m in modes for k in m.at(cell).breakdown if k.startswith(CPU)}  # type: ignore[union-attr]
                       - {TOTAL, WITH_BACKGROUND})
    lines = ["", f"CPU per request at {cell.label}, ms, by process (psutil, read from outside before and after each cell; "
                 "each process less the CPU it spends with no request at all, watched before the cells for as long as a cell: "
                 "Serve's health checks and metrics pushes, the controller's polling; `total with background` keeps it). "
                 "**Host** is what a request costs beyond the model: the mode's total less the model-only mode's at the same cell "
                 "(the forward passes on batches of the same size, nothing else).", ""]
    rows = [[process, *(_fmt(cpu_ms(m, cell, process), ".2f") for m in modes)] for process in [*processes, TOTAL, WITH_BACKGROUND]]
    rows.append(["**host (beyond the model)**", *(_fmt(host_ms(m, report.mode("model_only"), cell), ".2f") for m in modes)])
    return lines + markdown_table(["process", *(LABELS[m.mode] for m in modes)], rows)


def write(report: Report, out_dir: Path) -> list[Path]:
    write_json(report, out_dir / "bench.json")
    (out_dir / "bench.md").write_text(markdown(report))
    return [out_dir / "bench.json", out_dir / "bench.md", *plot(report, out_dir)]


def plot(report: Report, out_dir: Path) -> list[Path]:
    plt = pyplot()
    plan = report.plan

    def lines(xs: list[int], cell: Any, **axes: Any) -> Any:
        """Each mode's throughput at `cell(x)` against x, on a new figure."""
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for mode in report.modes:
            ax.plot(xs, [_throughput(mode, cell(x)) or 0 for x in xs], marker="o", label=LABELS[mode.mode])
        ax.set(**axes)
        return fig, ax

    fig, ax = lines(plan.concurrency, lambda c: Cell(concurrency=c), xscale="log", xlabel="concurrent clients",
                    ylabel="requests / s", title=f"Throughput, every head ({report.device_name})")
    ax.set_xticks(plan.concurrency, [str(c) for c in plan.concurrency])
    paths = [save(fig, out_dir / "throughput_vs_concurrency.png", ax)]

    shown = [c for c in plan.concurrency if any(m.at(Cell(concurrency=c)) for m in report.modes)]
    if shown:  # none when only the head sweep ran (--concurrency "")
        fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 4.5), squeeze=False)
        for ax, c in zip(axes[0], shown):
            data = [(m, r) for m in report.modes if (r := m.at(Cell(concurrency=c))) and r.latencies_ms]
            ax.boxplot([r.latencies_ms for _, r in data], whis=(1, 99), showfliers=False)
            ax.set_xticks(range(1, len(data) + 1), [m.mode for m, _ in data], rotation=20)
            ax.set(yscale="log", title=f"c={c} (whiskers p1-p99)", ylabel="latency ms")
            ax.grid(alpha=0.3, axis="y")
        fig.suptitle("Latency distribution, every head")
        paths.append(save(fig, out_dir / "latency_distribution.png"))

    counts = [k for k in plan.head_counts if k <= len(plan.head_order)]
    if counts:
        fig, ax = lines(counts, lambda k: Cell(concurrency=plan.heads_concurrency, heads=k), xlabel="heads per request",
                        ylabel="requests / s", title=f"Cost of heads at c={plan.heads_concurrency}")
        ax.axvline(plan.linear_heads + 0.5, color="grey", ls=":", lw=1)
        ax.text(plan.linear_heads + 0.6, ax.get_ylim()[1] * 0.95, "generative heads ->", fontsize=8, va="top")
        ax.set_xticks(counts)
        paths.append(save(fig, out_dir / "heads_cost.png", ax, loc="lower left"))
    return paths


def load(path: Path) -> Report:
    return Report.model_validate_json(path.read_text())


if __name__ == "__main__":
    bench_json = Path(sys.argv[1])
    report = load(bench_json)
    report.goals = evaluate_goals(report)
    write(report, bench_json.parent)
    print(markdown(report))
