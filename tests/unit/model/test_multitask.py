from __future__ import annotations

from model import encode


def test_backbone_runs_once_for_any_number_of_heads(tiny_model, tokenizer, examples):
    enc = encode(tokenizer, [e.question for e in examples], [e.context for e in examples], max_length=96, stride=32, max_question_tokens=24)
    before = tiny_model.backbone_calls
    preds = tiny_model.predict(enc, tokenizer)
    assert tiny_model.backbone_calls == before + 1
    assert set(preds) == {"span", "multispan", "answer_type", "number"}
    assert all(len(p) == len(examples) for p in preds.values())
    tiny_model.predict(enc, tokenizer, heads=["span"])
    assert tiny_model.backbone_calls == before + 2


def test_unknown_head_lists_the_valid_ones(tiny_model, tokenizer, examples):
    import pytest

    enc = encode(tokenizer, ["q"], ["c"], max_length=64, stride=16, max_question_tokens=24)
    with pytest.raises(KeyError, match="span"):
        tiny_model.predict(enc, tokenizer, heads=["nope"])
