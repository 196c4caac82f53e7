"""The held-out examples a checkpoint stores for people to try (the service's inspector menu):
written with their hash, read back equal, refused when changed, absent from older checkpoints."""
from __future__ import annotations

import json

import pytest

from model.checkpoint import (EXAMPLES, CheckpointError, read_examples, read_manifest, save_checkpoint, showcase_examples,
                              verify_checkpoint)

ENC = {"max_length": 96, "stride": 32, "max_question_tokens": 24}
TASKS = {"drop_number": "number", "drop_span": "span", "drop_spans": "multispan"}
HEAD_TASKS = {"span": ["drop_span"], "multispan": ["drop_spans"], "answer_type": ["drop_number"], "number": ["drop_number"]}


def _save(model, tokenizer, path, examples=()):
    return save_checkpoint(path, model, tokenizer, name="unit", head_tasks=HEAD_TASKS, tasks=TASKS, encoding=ENC,
                           backbone_source="tiny", examples=examples)


def test_showcase_takes_the_first_few_of_every_task(examples):
    by_task: dict[str, list] = {}
    for e in examples:
        by_task.setdefault(e.task, []).append(e)
    chosen = showcase_examples(by_task, per_task=1)
    assert [e.task for e in chosen] == sorted(by_task)
    assert all(e is by_task[e.task][0] for e in chosen)


def test_stored_examples_read_back_equal_and_are_verified(tiny_model, tokenizer, examples, tmp_path):
    manifest = _save(tiny_model, tokenizer, tmp_path / "ckpt", examples[:3])
    assert manifest.examples is not None and manifest.examples.count == 3
    assert [e.to_dict() for e in read_examples(tmp_path / "ckpt")] == [e.to_dict() for e in examples[:3]]
    verify_checkpoint(tmp_path / "ckpt")

    (tmp_path / "ckpt" / EXAMPLES).write_text(json.dumps(examples[0].to_dict()) + "\n")
    with pytest.raises(CheckpointError, match=EXAMPLES):
        read_examples(tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match=EXAMPLES):
        verify_checkpoint(tmp_path / "ckpt")


def test_a_checkpoint_without_examples_reads_as_none_and_a_resave_drops_stale_ones(tiny_model, tokenizer, examples, tmp_path):
    _save(tiny_model, tokenizer, tmp_path / "ckpt", examples[:2])
    manifest = _save(tiny_model, tokenizer, tmp_path / "ckpt")
    assert manifest.examples is None and read_manifest(tmp_path / "ckpt").examples is None
    assert read_examples(tmp_path / "ckpt") == []
    assert not (tmp_path / "ckpt" / EXAMPLES).exists()
