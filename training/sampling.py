"""Which examples make up each training batch: tasks drawn proportionally to their size or
uniformly, times per-task weights (so a head with few or hard examples, e.g. yes/no, sees enough
of them), each batch mixing tasks so every step trains several heads."""
from __future__ import annotations

import random
from typing import Literal

from model.example import Example


def draw_weights(sizes: dict[str, int], mode: Literal["proportional", "uniform"],
                 task_weights: dict[str, float] | None = None) -> dict[str, float]:
    """Each task's sampling weight, unnormalised, for tasks with `sizes` examples each (tasks with
    none are never drawn): its size (or 1, uniform) times its task weight."""
    weights = task_weights or {}
    return {t: (n if mode == "proportional" else 1) * weights.get(t, 1.0) for t, n in sorted(sizes.items()) if n}


def task_shares(sizes: dict[str, int], mode: Literal["proportional", "uniform"],
                task_weights: dict[str, float] | None = None) -> dict[str, float]:
    """The expected fraction of each batch per task."""
    drawn = draw_weights(sizes, mode, task_weights)
    total = sum(drawn.values())
    return {t: w / total for t, w in drawn.items()}


class TaskSampler:
    def __init__(self, train_sets: dict[str, list[Example]], mode: Literal["proportional", "uniform"], seed: int,
                 task_weights: dict[str, float] | None = None):
        self.tasks = sorted(t for t, exs in train_sets.items() if exs)
        if not self.tasks:
            raise ValueError("no training examples: the config's data section gives none")
        self.sets = train_sets
        drawn = draw_weights({t: len(train_sets[t]) for t in self.tasks}, mode, task_weights)
        # unnormalised, as batches have always been drawn: a seed draws the batches it always did
        self.weights = [drawn[t] for t in self.tasks]
        self.seed = seed

    def shares(self) -> dict[str, float]:
        """The expected fraction of each batch per task."""
        total = sum(self.weights)
        return {t: w / total for t, w in zip(self.tasks, self.weights)}

    def batch(self, step: int, size: int) -> list[Example]:
        # Seeded by step, so a resumed run draws the same batches as an uninterrupted one.
        rng = random.Random(self.seed * 1_000_003 + step)
        tasks = rng.choices(self.tasks, weights=self.weights, k=size)
        return [rng.choice(self.sets[t]) for t in tasks]
