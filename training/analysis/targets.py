"""The target tasks' metrics of each model on the analysis' own test split: what a verdict about
non-target heads is read next to (a head that says nothing useful next to an untrained target
says little), and the paper's other question, whether multi-task training costs the target.

    multi-task    each seed's checkpoint, every task it has a target head for (a routed number
                  answer as `training evaluate` scores it)
    single-task   per task, the control trained alone on the multi-task target head of that task,
                  where `python -m training controls --heads ...` trained one
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from model.checkpoint import is_checkpoint, load_model, read_manifest
from model.example import TASKS, Example
from model.routing import routes_for
from training.controls import control_dir
from training.data.loading import task_of
from training.evaluate import evaluate_model, primary_metric

MULTI, SINGLE = "multi-task", "single-task"


@dataclass
class TargetScores:
    """model -> one {task: {metric: value, "n": count}} per seed (empty where not measured)."""

    by_model: dict[str, list[dict[str, dict[str, float]]]] = field(default_factory=dict)

    def add(self, model: str, seed_index: int, seeds: int, scores: dict[str, dict[str, float]]) -> None:
        rows = self.by_model.setdefault(model, [{} for _ in range(seeds)])
        rows[seed_index].update(scores)

    def values(self, model: str, task: str, metric: str | None = None) -> list[float]:
        """The metric (the task's primary one by default) of each seed that has it."""
        metric = metric or primary_metric(task)
        return [row[task][metric] for row in self.by_model.get(model, []) if task in row and metric in row[task]]

    def line(self, model: str, task: str, metric: str | None = None) -> str | None:
        """`0.52 (seeds 0.50, 0.55, 0.51; n=180)`, or None when no seed has it."""
        values = self.values(model, task, metric)
        if not values:
            return None
        n = next(row[task]["n"] for row in self.by_model[model] if task in row)
        seeds = f"seeds {', '.join(f'{v:.2f}' for v in values)}; " if len(values) > 1 else ""
        return f"{sum(values) / len(values):.2f} ({seeds}n={int(n)})"

    def as_dict(self) -> dict[str, Any]:
        return self.by_model


def _scores(model, tokenizer, encoding: dict[str, int], heads, tasks: dict[str, str],
            test_sets: dict[str, list[Example]]) -> dict[str, dict[str, float]]:
    results = evaluate_model(model, tokenizer, test_sets, tasks, encoding, routes=routes_for(heads, tasks))
    return {t: v for t, v in results.items() if t != "score"}


def multi_task_scores(loaded, checkpoint: str | Path, test_sets: dict[str, list[Example]]) -> dict[str, dict[str, float]]:
    """A loaded multi-task model (training/analysis/variants.py: LoadedModel) on every task it targets."""
    manifest = read_manifest(checkpoint)
    return _scores(loaded.model, loaded.tokenizer, loaded.encoding, manifest.heads, manifest.tasks, test_sets)


def single_task_scores(controls: str | Path, tasks: dict[str, str], test_sets: dict[str, list[Example]],
                       device: torch.device) -> dict[str, dict[str, float]]:
    """For each task of the multi-task model (task -> target head), the control of that head,
    when one was trained and targets the task too."""
    out: dict[str, dict[str, float]] = {}
    for head in sorted(set(tasks.values())):
        path = control_dir(controls, head)
        if not is_checkpoint(path):
            continue
        model, tokenizer, manifest = load_model(path)
        own = {t: h for t, h in manifest.tasks.items() if tasks.get(t) == head == h}
        if own:
            out |= _scores(model.to(device).eval(), tokenizer, manifest.encoding.model_dump(), manifest.heads, own,
                           test_sets)
        del model
    return out


def setting_of(task: str) -> str:
    """The setting of a task or of an evaluation set named after one ("squad@dev-v1.1")."""
    return TASKS[task_of(task)][0]


def table(scores: TargetScores, tasks: dict[str, str]) -> list[str]:
    """Markdown: per setting, each task's primary metric, multi-task vs single-task, per seed. A
    routed task gets a second row with the target head alone, which is what a single-task control
    of that head (no answer-type head, no span head to route to) is scored on."""
    lines = []
    real_sets = sorted({name for row in scores.by_model.get(MULTI, []) for name in row if task_of(name) != name})
    names = list(tasks) + real_sets
    for setting in sorted({setting_of(t) for t in tasks}):
        lines += ["", f"**{setting}**", "", "| task | metric | multi-task | single-task | multi - single |",
                  "|---|---|---|---|---|"]
        for task in [t for t in names if setting_of(t) == setting]:
            primary = primary_metric(task)
            alone = f"{primary}_{tasks[task_of(task)]}"
            rows: list[tuple[str, str, str | None]] = [(task, primary, primary)]  # (label, multi's, single's metric)
            if scores.values(MULTI, task, alone):
                rows = [(f"{task} (routed)", primary, None), (f"{task} ({tasks[task_of(task)]} head alone)", alone, primary)]
            for label, metric, single_metric in rows:
                multi = scores.values(MULTI, task, metric)
                single = scores.values(SINGLE, task, single_metric) if single_metric else []
                diff = f"{sum(multi) / len(multi) - sum(single) / len(single):+.2f}" if multi and single else "–"
                single_cell = (scores.line(SINGLE, task, single_metric) if single_metric else None) or "–"
                lines.append(f"| {label} | {metric} | {scores.line(MULTI, task, metric) or '–'} | {single_cell} | {diff} |")
    return lines
