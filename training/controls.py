"""Controls for the emergent-behaviour analysis: the same head kinds trained single-task.

A behaviour of a non-target head can be credited to multi-task training only if the same head,
trained alone on its own tasks with its own backbone and the same budget, does not show it. Each
control is an ordinary checkpoint (one head), trained by the ordinary training loop.
"""
from __future__ import annotations

from pathlib import Path

from training.config import HeadConfig, TrainConfig
from training.sampling import task_shares
from model.example import TASKS


def _head_spec(config: TrainConfig, head: str) -> HeadConfig:
    spec = next((h for h in config.heads if h.name == head), None)
    if spec is None:
        raise ValueError(f"head {head!r} is not in config {config.name!r}; its heads: {[h.name for h in config.heads]}")
    return spec


def single_task_config(config: TrainConfig, head: str, steps: int | None = None) -> TrainConfig:
    """`config` reduced to one head and the tasks it trains on: same backbone source, encoding,
    optimiser and batch size; `steps` (when given) replaces the step budget and lifts any time
    budget (matched_steps: as many examples of its tasks as the multi-task model drew)."""
    spec = _head_spec(config, head)
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


def matched_steps(config: TrainConfig, head: str, steps: int, train_examples: dict[str, int]) -> int:
    """The steps that give `head`, trained alone at the same batch size, as many examples of its
    own tasks as the multi-task model's `steps` drew for them: `steps` times the share of each
    batch its tasks had (the sampler's expected shares over the pools the model trained on,
    `train_examples`). The control sees what the multi-task head saw of its tasks, no more and no
    less; only sharing the backbone with the other tasks differs."""
    spec = _head_spec(config, head)
    if not train_examples:
        raise ValueError(f"the checkpoint of {config.name!r} records no training.train_examples in its manifest, so "
                         f"the examples each head saw are unknown: pass --steps N")
    shares = task_shares(train_examples, config.optim.sampling, config.optim.task_weights)
    return max(1, round(steps * sum(shares.get(t, 0.0) for t in spec.tasks)))


def control_dir(controls: str | Path, head: str) -> Path:
    return Path(controls) / head
