"""The numeric (DROP-like) setting: drop_number / drop_span / drop_spans over three passage themes.

drop_number examples carry `operation` and `argument_spans` (the number tokens an operation
combines, or the counted mentions for "count"), which is what the analysis checks the span heads
against.
"""
from __future__ import annotations

import random
from typing import Callable

from model.example import Example
from training.data.synthetic import numeric_football, numeric_history, numeric_tables
from training.data.synthetic.common import QA, check_split, example_id, task_plan

SETTING = "numeric"
TASK_MIX = {"drop_number": 0.6, "drop_span": 0.2, "drop_spans": 0.2}
OPERATIONS = ("difference", "sum", "count", "max", "min")
THEMES = (numeric_football, numeric_history, numeric_tables)
# Word budget of a context (the model reads 128-256 tokens).
MIN_WORDS, MAX_WORDS = 36, 125

Builder = Callable[..., QA | None]


def _builders(key: str) -> list[tuple[object, Builder]]:
    return [(theme, b) for theme in THEMES for b in theme.BUILDERS.get(key, ())]


def _one(rng: random.Random, task: str, split: str) -> tuple[object, QA]:
    key = rng.choice(OPERATIONS) if task == "drop_number" else ("span" if task == "drop_span" else "spans")
    options = _builders(key)
    for _ in range(200):
        theme, build = rng.choice(options)
        passage = theme.passage(rng)
        if passage is None or not MIN_WORDS <= passage.doc.word_count() <= MAX_WORDS:
            continue
        qa = build(rng, passage, split)
        if qa is not None:
            return passage, qa
    raise RuntimeError(f"numeric generator found no {task} ({key}) question in 200 passages")


def generate(n: int, seed: int, split: str = "train") -> list[Example]:
    check_split(split)
    # The split is part of the seed: with one seed, train and heldout must not share passages.
    rng = random.Random(f"{SETTING}/{split}/{seed}")
    out = []
    for i, task in enumerate(task_plan(rng, n, TASK_MIX)):
        passage, qa = _one(rng, task, split)
        if qa.task != task:
            raise RuntimeError(f"builder for {task} produced {qa.task}")
        out.append(qa.to_example(passage.doc, example_id(SETTING, split, seed, i), SETTING, split))
    return out


def question_templates() -> dict[str, bool]:
    """Every numeric question template id -> held out?"""
    return {t.id: t.heldout for theme in THEMES for ts in theme.Q.values() for t in ts}
