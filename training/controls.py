"""Controls for the emergent-behaviour analysis: the same head kinds trained single-task.

A behaviour of a non-target head can be credited to multi-task training only if the same head,
trained alone on its own tasks with its own backbone and the same budget, does not show it. Each
control is an ordinary checkpoint (one head), trained by the ordinary training loop.
"""
from __future__ import annotations

from pathlib import Path

from training.config import TrainConfig
from model.example import TASKS


def single_task_config(config: TrainConfig, head: str, steps: int | None = None) -> TrainConfig:
    """`config` reduced to one head and the tasks it trains on: same backbone source, encoding,
    optimiser and batch size; `steps` (when given) replaces the step budget and lifts any time
    budget, so a control trains exactly as many steps as the multi-task model did."""
    spec = next((h for h in config.heads if h.name == head), None)
    if spec is None:
        raise ValueError(f"head {head!r} is not in config {config.name!r}; its heads: {[h.name for h in config.heads]}")
    data = config.data.model_copy(update={
        "synthetic": {s: n for s, n in config.data.synthetic.items() if any(TASKS[t][0] == s for t in spec.tasks)},
    })
    optim = config.optim
    if steps is not None:
        optim = optim.model_copy(update={"steps": steps, "time_budget_s": None,
                                         "eval_every": min(optim.eval_every, steps)})
    return TrainConfig(
        name=f"{config.name}-single-{head}",
        backbone=config.backbone,
        heads=[spec],
        tasks={t: head for t in spec.tasks},
        data=data,
        optim=optim,
    )


def control_dir(controls: str | Path, head: str) -> Path:
    return Path(controls) / head
