"""The data a training config asks for: synthetic settings and real-format files, by task."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
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


# An evaluation set of real examples is named "<task>@<source>" (squad@dev-v1.1), so its score is
# reported beside the synthetic set of the same task, not averaged into it.
SOURCE_SEPARATOR = "@"


def task_of(eval_set: str) -> str:
    """The task an evaluation set's name stands for: "squad@dev-v1.1" -> "squad"."""
    return eval_set.split(SOURCE_SEPARATOR, 1)[0]


def by_eval_set(examples: list[Example]) -> dict[str, list[Example]]:
    """Evaluation examples by task, real ones apart under "<task>@<source>"."""
    grouped: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        source = ex.extra.get("source")
        grouped[f"{ex.task}{SOURCE_SEPARATOR}{source}" if source else ex.task].append(ex)
    return dict(grouped)


def _from_source(examples: list[Example], source: str) -> list[Example]:
    for ex in examples:
        ex.extra["source"] = source
    return examples


def real_squad_split(spec, train: bool = True) -> tuple[list[Example], list[Example]]:
    """(train, held-out) SQuAD examples of a `data.real_squad` block: the held-out articles of the
    dev file, and the official train file's examples or, without it, the dev file's other articles.
    `train=False`: the held-out ones only (no train file read; what evaluation and analysis need)."""
    from training.data.readers import read_squad

    dev = read_squad(spec.dev_path())
    titles = {ex.extra.get("title") for ex in dev}
    unknown = sorted(set(spec.held_out_articles) - titles)
    if unknown:
        raise ValueError(f"data.real_squad.held_out_articles: {unknown} are not articles of {spec.dev_path()}; "
                         f"its articles include {sorted(t for t in titles if t)[:5]}...")
    held_out = set(spec.held_out_articles)
    evaluation = [ex for ex in dev if ex.extra.get("title") in held_out]
    if not train:
        training: list[Example] = []
    elif spec.train_path() == spec.dev_path():
        training = [ex for ex in dev if ex.extra.get("title") not in held_out]
    else:
        training = read_squad(spec.train_path())
    return training, _from_source(evaluation, "held-out articles")


# Two draws from the held-out templates: the validation split picks the best checkpoint during
# training; the test split is what the emergent-behaviour analysis reads, never used for selection.
VALIDATION_SEED_OFFSET = 10_000
TEST_SEED_OFFSET = 20_000


def load_data(data_config) -> tuple[dict[str, list[Example]], dict[str, list[Example]]]:
    """(train, validation) examples: training by task, validation by evaluation set (by_eval_set).
    Synthetic validation examples use the held-out templates only, with a different seed, so
    evaluation never sees a training template; real ones come from eval files or held-out articles."""
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
        if spec.split == "train":
            train += examples
        else:
            evaluation += _from_source(examples, Path(spec.path).stem)
    if data_config.real_squad is not None:
        real_train, real_held_out = real_squad_split(data_config.real_squad)
        train += real_train
        evaluation += real_held_out
    return by_task(train), by_eval_set(evaluation)


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
    if data_config.real_squad is not None:
        test += real_squad_split(data_config.real_squad, train=False)[1]
    return by_task(test)
