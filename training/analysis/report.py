"""Numbers -> what a person reads: means with bootstrap intervals per variant, the verdict of each
finding against the controls, a markdown report, a JSON of every number, and bar charts."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.analysis.bootstrap import Estimate, bootstrap_mean
from training.analysis.findings import FindingSpec, Measured
from training.analysis.variants import MULTI_TASK


@dataclass
class Verdict:
    metric: str
    shown: bool | None  # None: no control has this metric, so nothing to compare with
    multi: Estimate
    controls: dict[str, Estimate]

    def sentence(self) -> str:
        if self.shown is None:
            return f"`{self.metric}`: {self.multi} (no control measured)"
        best = max(self.controls.items(), key=lambda kv: kv[1].mean)
        word = "shown" if self.shown else "NOT shown"
        return (f"`{self.metric}`: {word}: multi-task {self.multi} vs best control ({best[0]}) {best[1]}"
                + ("" if self.shown else " (the intervals overlap or the control is higher)"))


@dataclass
class FindingResult:
    spec: FindingSpec
    n: int
    estimates: dict[str, dict[str, Estimate]]  # metric -> variant -> estimate
    by_group: dict[str, dict[str, dict[str, Estimate]]]  # headline metric -> variant -> group -> estimate
    verdicts: list[Verdict]
    examples_md: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def shown(self) -> bool:
        return bool(self.verdicts) and all(v.shown for v in self.verdicts)


def summarise(spec: FindingSpec, measured: dict[str, Measured], n: int, seed: int = 0) -> FindingResult:
    estimates: dict[str, dict[str, Estimate]] = {}
    for metric in spec.metrics:
        row = {v: bootstrap_mean(m.values[metric], seed=seed) for v, m in measured.items() if metric in m.values}
        if row:
            estimates[metric] = row
    by_group: dict[str, dict[str, dict[str, Estimate]]] = {}
    for metric in spec.headline:
        for variant, m in measured.items():
            if metric not in m.values:
                continue
            groups: dict[str, list[float]] = {}
            for g, value in zip(m.groups, m.values[metric]):
                groups.setdefault(g, []).append(value)
            by_group.setdefault(metric, {})[variant] = {g: bootstrap_mean(vs, seed=seed) for g, vs in sorted(groups.items())}
    verdicts = []
    for metric in spec.headline:
        row = estimates.get(metric, {})
        if MULTI_TASK not in row:
            continue
        multi = row[MULTI_TASK]
        controls = {v: e for v, e in row.items() if v != MULTI_TASK}
        shown = None if not controls else all(multi.low > c.high for c in controls.values())
        verdicts.append(Verdict(metric, shown, multi, controls))
    return FindingResult(spec, n, estimates, by_group, verdicts)


def _table(result: FindingResult, variants: list[str]) -> list[str]:
    lines = ["| metric | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    for metric, row in result.estimates.items():
        cells = [str(row[v]) if v in row else "–" for v in variants]
        star = " **(headline)**" if metric in result.spec.headline else ""
        lines.append(f"| `{metric}`{star} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- `{m}`: {d}" for m, d in result.spec.metrics.items()]
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
    return lines


def markdown(title: str, preamble: list[str], results: list[FindingResult], variants: dict[str, str]) -> str:
    names = list(variants)
    lines = [f"# {title}", "", *preamble, "", "## Variants", ""]
    lines += [f"- **{v}**: {d}" for v, d in variants.items()]
    lines += ["", "Every number is a mean over held-out examples with a 95% bootstrap interval `[low, high]`. "
              "A finding is **shown** when, on each headline metric, the multi-task interval lies entirely above "
              "every control's, the degenerate baselines' included.", "", "## Findings", ""]
    for r in results:
        verdict = "shown" if r.shown else "not shown"
        lines += [f"### {r.spec.title}: **{verdict}** (n={r.n})", "", f"Claim: {r.spec.claim}", ""]
        lines += [f"- {v.sentence()}" for v in r.verdicts] + [""]
        lines += [f"- note: {n}" for n in r.notes] + ([""] if r.notes else [])
        lines += _table(r, names) + _group_tables(r, names)
        lines += ["", f"![{r.spec.key}]({r.spec.key}.png)", ""]
    lines += ["Worked examples: [examples.md](examples.md)", ""]
    return "\n".join(lines)


def to_json(results: list[FindingResult], meta: dict[str, Any]) -> dict[str, Any]:
    def est(e: Estimate) -> dict[str, float]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in e.as_dict().items()}

    return {
        **meta,
        "findings": {
            r.spec.key: {
                "title": r.spec.title,
                "n": r.n,
                "shown": r.shown,
                "metrics": {m: {v: est(e) for v, e in row.items()} for m, row in r.estimates.items()},
                "by_group": {m: {v: {g: est(e) for g, e in gs.items()} for v, gs in pv.items()} for m, pv in r.by_group.items()},
                "verdicts": {v.metric: {"shown": v.shown, "multi_task": est(v.multi),
                                        "controls": {c: est(e) for c, e in v.controls.items()}} for v in r.verdicts},
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
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write(out: Path, title: str, preamble: list[str], results: list[FindingResult], variants: dict[str, str],
          meta: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    names = list(variants)
    (out / "report.md").write_text(markdown(title, preamble, results, variants))
    (out / "findings.json").write_text(json.dumps(to_json(results, meta), indent=2))
    (out / "examples.md").write_text("\n".join([f"# Worked examples: {title}", "", *(r.examples_md for r in results)]))
    for r in results:
        plot(r, names, out / f"{r.spec.key}.png")
