"""Numbers -> what a person reads: per variant the mean of each metric pooled over seeds, the
paired difference multi-task minus each control with its interval, the verdict of each finding,
the target metrics beside it, a markdown report, a JSON of every number, and bar charts."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from training.analysis.bootstrap import Estimate, bootstrap_cells, paired_difference
from training.analysis.findings import FindingSpec, Measured
from training.analysis.targets import MULTI, SINGLE, TargetScores
from training.evaluate import PRIMARY_METRIC
from training.analysis.variants import MULTI_TASK, SINGLE_TASK

# variant -> one Measured per seed of the multi-task model (None: not measured for that seed)
Seeded = dict[str, list["Measured | None"]]


@dataclass
class Verdict:
    metric: str
    shown: bool | None  # None: no control has this metric, so nothing to compare with
    multi: Estimate
    controls: dict[str, Estimate]  # each control's own mean
    differences: dict[str, Estimate]  # multi-task minus each control, paired

    def sentence(self) -> str:
        if self.shown is None:
            return f"`{self.metric}`: {self.multi} (no control measured)"
        weakest = min(self.differences.items(), key=lambda kv: kv[1].low)
        word = "shown" if self.shown else "NOT shown"
        return (f"`{self.metric}`: {word}: multi-task {self.multi}; smallest paired difference: multi-task minus "
                f"{weakest[0]} {weakest[1].signed()}"
                + ("" if self.shown else " (its interval does not lie above 0)"))


@dataclass
class FindingResult:
    spec: FindingSpec
    n: int  # examples (each measured once per seed)
    seeds: int
    estimates: dict[str, dict[str, Estimate]]  # metric -> variant -> estimate
    by_group: dict[str, dict[str, dict[str, Estimate]]]  # headline metric -> variant -> group -> estimate
    verdicts: list[Verdict]
    # headline metric -> group -> control -> multi-task minus the control on that group's examples, paired
    group_differences: dict[str, dict[str, dict[str, Estimate]]] = field(default_factory=dict)
    targets: list[str] = field(default_factory=list)  # the target metrics, one line per task
    examples_md: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def shown(self) -> bool:
        return self.spec.judged and bool(self.verdicts) and all(v.shown for v in self.verdicts)

    @property
    def status(self) -> str:
        if not self.spec.judged:
            return "reported apart"
        return "shown" if self.shown else "not shown"


def _seeded(measured: dict[str, Any]) -> Seeded:
    """A single Measured per variant (one seed) or a list of them."""
    return {v: (m if isinstance(m, list) else [m]) for v, m in measured.items()}


def _cells(runs: Sequence[Measured | None], metric: str, n: int, keep: Sequence[int] | None = None) -> list[list[float]]:
    rows = [(m.by_example(metric, n) if m is not None else [math.nan] * n) for m in runs]
    return [[row[i] for i in keep] for row in rows] if keep is not None else rows


def _has(runs: Sequence[Measured | None], metric: str) -> bool:
    return any(m is not None and m.values.get(metric) for m in runs)


def _group_indices(runs: Sequence[Measured | None]) -> dict[str, list[int]] | None:
    """The example indices of each group, as the first measured seed labels them; None if no seed was."""
    first = next((m for m in runs if m is not None), None)
    if first is None:
        return None
    groups: dict[str, list[int]] = {}
    for i, g in enumerate(first.groups):
        groups.setdefault(g, []).append(i)
    return dict(sorted(groups.items()))


def summarise(spec: FindingSpec, measured: dict[str, Any], n: int, seed: int = 0) -> FindingResult:
    """Every metric of every variant pooled over seeds, and the verdict: each headline metric's
    paired difference multi-task minus every control must lie above 0."""
    runs = _seeded(measured)
    seeds = max((len(r) for r in runs.values()), default=0)
    for variant, r in runs.items():
        if len(r) != seeds:
            raise ValueError(f"variant {variant!r} has {len(r)} seeds, the others {seeds}: give None for a seed "
                             f"not measured")
    estimates: dict[str, dict[str, Estimate]] = {}
    for metric in spec.metrics:
        row = {v: bootstrap_cells(_cells(r, metric, n), seed=seed) for v, r in runs.items() if _has(r, metric)}
        if row:
            estimates[metric] = row
    by_group: dict[str, dict[str, dict[str, Estimate]]] = {}
    for metric in spec.headline:
        for variant, r in runs.items():
            groups = _group_indices(r)
            if groups is None or not _has(r, metric):
                continue
            by_group.setdefault(metric, {})[variant] = {
                g: bootstrap_cells(_cells(r, metric, n, keep), seed=seed) for g, keep in groups.items()}
    group_differences: dict[str, dict[str, dict[str, Estimate]]] = {}
    for metric, per_variant in by_group.items():
        if MULTI_TASK not in per_variant:
            continue
        for g, keep in _group_indices(runs[MULTI_TASK]).items():
            multi_cells = _cells(runs[MULTI_TASK], metric, n, keep)
            for variant in per_variant:
                if variant == MULTI_TASK:
                    continue
                difference = paired_difference(multi_cells, _cells(runs[variant], metric, n, keep), seed=seed)
                if difference.n:
                    group_differences.setdefault(metric, {}).setdefault(g, {})[variant] = difference
    verdicts = []
    for metric in spec.headline if spec.judged else ():
        if MULTI_TASK not in runs or not _has(runs[MULTI_TASK], metric):
            continue
        multi_cells = _cells(runs[MULTI_TASK], metric, n)
        controls, differences = {}, {}
        for variant, r in runs.items():
            if variant == MULTI_TASK or not _has(r, metric):
                continue
            difference = paired_difference(multi_cells, _cells(r, metric, n), seed=seed)
            if difference.n:
                controls[variant], differences[variant] = estimates[metric][variant], difference
        shown = None if not differences else all(d.above_zero for d in differences.values())
        verdicts.append(Verdict(metric, shown, estimates[metric][MULTI_TASK], controls, differences))
    return FindingResult(spec, n, seeds, estimates, by_group, verdicts, group_differences=group_differences)


def target_lines(spec: FindingSpec, scores: TargetScores, tasks: dict[str, str]) -> list[str]:
    """The finding's target tasks on the test split, multi-task and single-task. A routed task's
    multi-task answer comes from several heads; the single-task control of its target head answers
    alone, so it is set beside the multi-task target head alone."""
    lines = []
    for task in spec.target_tasks:
        primary, head = PRIMARY_METRIC[task], tasks.get(task, "")
        alone = f"{primary}_{head}"
        routed = bool(scores.values(MULTI, task, alone))
        said = [(MULTI_TASK + (" (routed)" if routed else ""), scores.line(MULTI, task))]
        if routed:
            said.append((f"{MULTI_TASK} ({head} head alone)", scores.line(MULTI, task, alone)))
        said.append((SINGLE_TASK + (f" ({head} head alone)" if routed else ""), scores.line(SINGLE, task)))
        lines += [f"target `{task}` {primary}, {label}: {value}" for label, value in said if value is not None]
    return lines


def _table(result: FindingResult, variants: list[str]) -> list[str]:
    lines = ["| metric | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    for metric, row in result.estimates.items():
        cells = [str(row[v]) if v in row else "–" for v in variants]
        star = " **(headline)**" if metric in result.spec.headline else ""
        lines.append(f"| `{metric}`{star} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- `{m}`: {d}" for m, d in result.spec.metrics.items()]
    return lines


def _difference_table(result: FindingResult) -> list[str]:
    if not result.verdicts:
        return []
    controls = list(dict.fromkeys(c for v in result.verdicts for c in v.differences))
    lines = ["", "Paired differences, multi-task minus each control (same examples and seeds; shown needs every "
             "interval above 0):", "", "| control | " + " | ".join(f"`{v.metric}`" for v in result.verdicts) + " |",
             "|---|" + "---|" * len(result.verdicts)]
    for c in controls:
        cells = [v.differences[c].signed() if c in v.differences else "–" for v in result.verdicts]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return lines


def _group_tables(result: FindingResult, variants: list[str]) -> list[str]:
    lines = []
    for metric, per_variant in result.by_group.items():
        groups = sorted({g for gs in per_variant.values() for g in gs})
        lines += ["", f"`{metric}` by {result.spec.group_by}:", "",
                  f"| {result.spec.group_by} | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
        for g in groups:
            cells = [f"{per_variant[v][g]} (n={per_variant[v][g].n})" if g in per_variant.get(v, {}) else "–" for v in variants]
            lines.append(f"| {g} | " + " | ".join(cells) + " |")
        paired = result.group_differences.get(metric, {})
        if paired:
            controls = list(dict.fromkeys(c for per_control in paired.values() for c in per_control))
            lines += ["", f"`{metric}` by {result.spec.group_by}, paired differences multi-task minus each control "
                      "(reported, not judged: the verdict is over all examples):", "",
                      "| control | " + " | ".join(paired) + " |", "|---|" + "---|" * len(paired)]
            for c in controls:
                lines.append(f"| {c} | " + " | ".join(paired[g][c].signed() if c in paired[g] else "–" for g in paired)
                             + " |")
    return lines


def markdown(title: str, preamble: list[str], results: list[FindingResult], variants: dict[str, str],
             targets: list[str] | None = None) -> str:
    names = list(variants)
    lines = [f"# {title}", "", *preamble, "", "## Variants", ""]
    lines += [f"- **{v}**: {d}" for v, d in variants.items()]
    lines += ["", "Every number is a mean over examples x seeds with a 95% bootstrap interval `[low, high]` (example "
              "indices resampled jointly across seeds). A finding is **shown** when, on each headline metric, the "
              "paired difference multi-task minus each control (same examples, same seed) has its whole 95% "
              "interval above 0, against every control, the baselines included.", "", "## Findings", ""]
    for r in results:
        lines += [f"### {r.spec.title}: **{r.status}** (n={r.n} examples x {r.seeds} seeds)", "", f"Claim: {r.spec.claim}", ""]
        lines += [f"- {v.sentence()}" for v in r.verdicts]
        lines += [f"- {t}" for t in r.targets] + [""]
        lines += [f"- note: {n}" for n in r.notes] + ([""] if r.notes else [])
        lines += _table(r, names) + _difference_table(r) + _group_tables(r, names)
        lines += ["", f"![{r.spec.key}]({r.spec.key}.png)", ""]
    if targets:
        lines += ["## Target tasks, multi-task vs single-task", "",
                  "Each model's target heads on the same test split (mean over seeds; each seed in brackets).",
                  *targets, ""]
    lines += ["Worked examples: [examples.md](examples.md)", ""]
    return "\n".join(lines)


def _est(e: Estimate) -> dict[str, float]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in e.as_dict().items()}


def to_json(results: list[FindingResult], meta: dict[str, Any]) -> dict[str, Any]:
    return {
        **meta,
        "findings": {
            r.spec.key: {
                "title": r.spec.title,
                "n": r.n,
                "seeds": r.seeds,
                "judged": r.spec.judged,
                "shown": r.shown,
                "metrics": {m: {v: _est(e) for v, e in row.items()} for m, row in r.estimates.items()},
                "by_group": {m: {v: {g: _est(e) for g, e in gs.items()} for v, gs in pv.items()} for m, pv in r.by_group.items()},
                "by_group_differences": {m: {g: {c: _est(e) for c, e in per_control.items()}
                                             for g, per_control in pg.items()}
                                         for m, pg in r.group_differences.items()},
                "verdicts": {v.metric: {"shown": v.shown, "multi_task": _est(v.multi),
                                        "controls": {c: _est(e) for c, e in v.controls.items()},
                                        "differences": {c: _est(e) for c, e in v.differences.items()}}
                             for v in r.verdicts},
                "targets": r.targets,
                "notes": r.notes,
            }
            for r in results
        },
    }


def plot(result: FindingResult, variants: list[str], path: Path) -> Path:
    """Grouped bars: one group per metric, one bar per variant, 95% intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(result.estimates)
    width = 0.8 / max(1, len(variants))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(metrics)), 4))
    for k, variant in enumerate(variants):
        xs, means, errs = [], [], [[], []]
        for i, metric in enumerate(metrics):
            e = result.estimates[metric].get(variant)
            if e is None or math.isnan(e.mean):
                continue
            xs.append(i + (k - (len(variants) - 1) / 2) * width)
            means.append(e.mean)
            errs[0].append(max(0.0, e.mean - e.low)), errs[1].append(max(0.0, e.high - e.mean))
        ax.bar(xs, means, width, yerr=errs, capsize=3, label=variant)
    ax.set_xticks(range(len(metrics)), [m.replace("_", "\n", 1) for m in metrics], fontsize=8)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_title(result.spec.title, fontsize=9)
    ax.set_ylabel("mean with 95% interval")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write(out: Path, title: str, preamble: list[str], results: list[FindingResult], variants: dict[str, str],
          meta: dict[str, Any], targets: list[str] | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    names = list(variants)
    (out / "report.md").write_text(markdown(title, preamble, results, variants, targets))
    (out / "findings.json").write_text(json.dumps(to_json(results, meta), indent=2))
    (out / "examples.md").write_text("\n".join([f"# Worked examples: {title}", "", *(r.examples_md for r in results)]))
    for r in results:
        plot(r, names, out / f"{r.spec.key}.png")
