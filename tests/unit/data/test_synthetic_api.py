"""The generate() contract: determinism, splits, task mix, lengths, template hold-out."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from model.example import TASKS, read_jsonl, write_jsonl
from training.data.synthetic import generate, multihop, numeric, qa_summary

SETTINGS = ("numeric", "multihop", "qa_summary")
TEMPLATES = {"numeric": numeric.question_templates, "multihop": multihop.question_templates,
             "qa_summary": qa_summary.question_templates}
MIX = {
    "numeric": {"drop_number": 0.6, "drop_span": 0.2, "drop_spans": 0.2},
    "multihop": {"hotpot_yesno": 0.65, "hotpot_span": 0.35},
    "qa_summary": {"squad": 0.5, "summarize": 0.5},
}


@pytest.mark.parametrize("setting", SETTINGS)
def test_same_seed_same_data_other_seed_other_data(setting):
    a = [e.to_dict() for e in generate(setting, 40, 5)]
    b = [e.to_dict() for e in generate(setting, 40, 5)]
    c = [e.to_dict() for e in generate(setting, 40, 6)]
    assert a == b
    assert [e["context"] for e in a] != [e["context"] for e in c]


@pytest.mark.parametrize("setting", SETTINGS)
def test_global_random_state_untouched(setting):
    random.seed(123)
    before = random.getstate()
    generate(setting, 30, 1)
    assert random.getstate() == before


@pytest.mark.parametrize("setting", SETTINGS)
def test_train_and_heldout_share_no_passages_for_one_seed(setting, synthetic):
    train = {e.context for e in synthetic(setting, "train")}
    held = {e.context for e in synthetic(setting, "heldout")}
    assert len(train & held) <= 2  # a short passage may recur by chance, never systematically


@pytest.mark.parametrize("setting", SETTINGS)
def test_heldout_templates_never_in_train_and_vice_versa(setting, synthetic):
    flags = TEMPLATES[setting]()
    for split in ("train", "heldout"):
        examples = synthetic(setting, split)
        for ex in examples:
            assert ex.split == split
            assert ex.template in flags, ex.template
            assert flags[ex.template] == (split == "heldout"), (split, ex.template)
            steer = ex.extra.get("steer_template")
            if steer:
                assert flags[steer] == (split == "heldout")
    train_ids = {e.template for e in synthetic(setting, "train")}
    held_ids = {e.template for e in synthetic(setting, "heldout")}
    assert not train_ids & held_ids


@pytest.mark.parametrize("setting", SETTINGS)
def test_each_template_kind_holds_out_a_fifth_to_a_quarter(setting):
    kinds: dict[str, list[bool]] = {}
    for tid, held in TEMPLATES[setting]().items():
        kinds.setdefault(tid.rsplit(".", 1)[0], []).append(held)
    for kind, flags in kinds.items():
        assert 0.2 <= sum(flags) / len(flags) <= 0.25, kind
        assert sum(flags) >= 1 and not all(flags), kind


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("split", ["train", "heldout"])
def test_task_mix(setting, split, synthetic):
    examples = synthetic(setting, split)
    counts = Counter(e.task for e in examples)
    for task, share in MIX[setting].items():
        assert abs(counts[task] / len(examples) - share) < 0.03, (task, counts)
        assert TASKS[task][0] == setting
    assert all(e.setting == setting for e in examples)


@pytest.mark.parametrize("setting", SETTINGS)
def test_lengths_fit_the_model_window(setting, synthetic):
    examples = synthetic(setting, "train") + synthetic(setting, "heldout")
    words = [len(e.context.split()) for e in examples]
    assert sum(40 <= w <= 120 for w in words) / len(words) >= 0.8
    assert max(words) <= 130 and min(words) >= 30
    assert max(len(e.question.split()) for e in examples) < 25


@pytest.mark.parametrize("setting", SETTINGS)
def test_ids_unique_and_jsonl_round_trip(setting, tmp_path):
    examples = generate(setting, 50, 2, "heldout")
    assert len({e.id for e in examples}) == len(examples)
    path = tmp_path / f"{setting}.jsonl"
    assert write_jsonl(examples, path) == 50
    assert [e.to_dict() for e in read_jsonl(path)] == [e.to_dict() for e in examples]


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="unknown setting"):
        generate("nope", 3, 0)
    with pytest.raises(ValueError, match="split"):
        generate("numeric", 3, 0, "dev")
    with pytest.raises(ValueError, match="non-negative"):
        generate("multihop", -1, 0)
    assert generate("qa_summary", 0, 0) == []
