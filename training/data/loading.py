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


# Two draws from the held-out templates: the validation split picks the best checkpoint during
# training; the test split is what the emergent-behaviour analysis reads, never used for selection.
VALIDATION_SEED_OFFSET = 10_000
TEST_SEED_OFFSET = 20_000


def load_data(data_config) -> tuple[dict[str, list[Example]], dict[str, list[Example]]]:
    """(train, validation) examples by task. Synthetic validation examples use the held-out
    templates only, with a different seed, so evaluation never sees a training template."""
    from training.data.synthetic import generate

    train: list[Example] = []
    evaluation: list[Example] = []
    for setting, n in data_config.synthetic.items():
        train += generate(setting, n, seed=data_config.seed, split="train")
        evaluation += generate(setting, data_config.eval_per_setting, seed=data_config.seed + VALIDATION_SEED_OFFSET,
                               split="heldout")
    readers = _readers()
    for spec in data_config.files:
        examples = readers[spec.format](spec.path)
        if not examples:
            raise ValueError(f"{spec.path}: no usable examples in this {spec.format} file")
        (train if spec.split == "train" else evaluation).extend(examples)
    return by_task(train), by_task(evaluation)


def load_test_data(data_config) -> dict[str, list[Example]]:
    """The test split by task: `eval_per_setting` examples per synthetic setting from the held-out
    templates, drawn with their own seed, less any (question, context) the validation split also
    holds, so that what selected the checkpoint never measures it; and every example of the
    `files` with split eval. A file gives no second split, so those are the examples validation
    read too (real DROP, HotpotQA, SQuAD dev sets carry the evidence and argument spans that
    the synthetic test split is there to give)."""
    from training.data.synthetic import generate

    test: list[Example] = []
    for setting in data_config.synthetic:
        n, seed = data_config.eval_per_setting, data_config.seed
        validation = {(e.question, e.context) for e in generate(setting, n, seed=seed + VALIDATION_SEED_OFFSET, split="heldout")}
        test += [e for e in generate(setting, n, seed=seed + TEST_SEED_OFFSET, split="heldout")
                 if (e.question, e.context) not in validation]
    readers = _readers()
    for spec in data_config.files:
        if spec.split == "eval":
            test += readers[spec.format](spec.path)
    return by_task(test)
