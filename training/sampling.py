"""Which examples make up each training batch: tasks drawn proportionally to their size or
uniformly, times per-task weights (so a head with few or hard examples, e.g. yes/no, sees enough
of them), each batch mixing tasks so every step trains several heads."""
from __future__ import annotations

import random
from typing import Literal

from model.example import Example


class TaskSampler:
    def __init__(self, train_sets: dict[str, list[Example]], mode: Literal["proportional", "uniform"], seed: int,
                 task_weights: dict[str, float] | None = None):
        self.tasks = sorted(t for t, exs in train_sets.items() if exs)
        if not self.tasks:
            raise ValueError("no training examples: the config's data section gives none")
        self.sets = train_sets
        sizes = [len(train_sets[t]) for t in self.tasks]
        base = sizes if mode == "proportional" else [1] * len(self.tasks)
        weights = task_weights or {}
        self.weights = [b * weights.get(t, 1.0) for t, b in zip(self.tasks, base)]
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
