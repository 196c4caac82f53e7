"""The training curves as a PNG: a person would rather look at them than read the jsonl."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from training.data.loading import task_of
from training.evaluate import PRIMARY_METRIC, primary_metric


def plot_curves(metrics_jsonl: Path, out_png: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses: dict[str, list[tuple[int, float]]] = defaultdict(list)
    evals: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for line in Path(metrics_jsonl).read_text().splitlines():
        rec = json.loads(line)
        if rec.get("kind") == "train":
            losses["total"].append((rec["step"], rec["loss"]))
            for head, value in rec.get("head_losses", {}).items():
                losses[head].append((rec["step"], value))
        elif rec.get("kind") == "eval":
            for task, vals in rec["metrics"].items():
                if task_of(task) in PRIMARY_METRIC:
                    evals[f"{task} ({primary_metric(task)})"].append((rec["step"], vals[primary_metric(task)]))
    fig, (ax_loss, ax_eval) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, points in losses.items():
        xs, ys = zip(*points)
        ax_loss.plot(xs, ys, label=name, linewidth=2.2 if name == "total" else 1.0)
    ax_loss.set(title="training loss (per head and total)", xlabel="step", ylabel="loss", yscale="log")
    ax_loss.legend(fontsize=8)
    for name, points in evals.items():
        xs, ys = zip(*points)
        ax_eval.plot(xs, ys, marker="o", label=name)
    ax_eval.set(title="held-out metric per task", xlabel="step", ylabel="metric", ylim=(0, 1.02))
    ax_eval.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png
