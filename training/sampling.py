"""Which examples make up each training batch: tasks drawn proportionally to their size or
uniformly, each batch mixing tasks so every step trains several heads."""
from __future__ import annotations

import random
from typing import Literal

from model.example import Example


class TaskSampler:
    def __init__(self, train_sets: dict[str, list[Example]], mode: Literal["proportional", "uniform"], seed: int):
        self.tasks = sorted(t for t, exs in train_sets.items() if exs)
        if not self.tasks:
            raise ValueError("no training examples: the config's data section gives none")
        self.sets = train_sets
        sizes = [len(train_sets[t]) for t in self.tasks]
        self.weights = sizes if mode == "proportional" else [1] * len(self.tasks)
        self.seed = seed

    def batch(self, step: int, size: int) -> list[Example]:
        # Seeded by step, so a resumed run draws the same batches as an uninterrupted one.
        rng = random.Random(self.seed * 1_000_003 + step)
        tasks = rng.choices(self.tasks, weights=self.weights, k=size)
        return [rng.choice(self.sets[t]) for t in tasks]
