"""The data a training config asks for: synthetic settings and real-format files, by task."""
from __future__ import annotations

from collections import defaultdict
from typing import Callable

from model.example import Example, read_jsonl


def _readers() -> dict[str, Callable[[str], list[Example]]]:
    from training.data.readers import read_cnndm, read_drop, read_hotpot, read_squad

    return {
        "jsonl": lambda path: list(read_jsonl(path)),
        "squad": read_squad,
        "drop": read_drop,
        "hotpot": read_hotpot,
        "cnndm": read_cnndm,
    }


def by_task(examples: list[Example]) -> dict[str, list[Example]]:
    grouped: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        grouped[ex.task].append(ex)
    return dict(grouped)


def load_data(data_config) -> tuple[dict[str, list[Example]], dict[str, list[Example]]]:
    """(train, eval) examples by task. Synthetic evaluation examples use the held-out templates
    only, with a different seed, so evaluation never sees a training template."""
    from training.data.synthetic import generate

    train: list[Example] = []
    evaluation: list[Example] = []
    for setting, n in data_config.synthetic.items():
        train += generate(setting, n, seed=data_config.seed, split="train")
        evaluation += generate(setting, data_config.eval_per_setting, seed=data_config.seed + 10_000, split="heldout")
    readers = _readers()
    for spec in data_config.files:
        examples = readers[spec.format](spec.path)
        if not examples:
            raise ValueError(f"{spec.path}: no usable examples in this {spec.format} file")
        (train if spec.split == "train" else evaluation).extend(examples)
    return by_task(train), by_task(evaluation)
