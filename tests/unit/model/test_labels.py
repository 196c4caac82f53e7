"""Training labels say what the data says: the gold spans decoded back from the span and tagging
labels give the answer text, and generative targets decode to the answer, for every setting."""
from __future__ import annotations

import pytest
import torch

from training.data.synthetic import generate
from training.metrics import normalize_answer
from model import encode
from model.backbone import BackboneInfo, build_tiny_backbone
from model.heads import HeadBatch, build_head
from model.tokenizer import build_wordpiece_tokenizer


@pytest.fixture(scope="module")
def data():
    examples = [e for s in ("numeric", "multihop", "qa_summary") for e in generate(s, 150, seed=3)]
    tokenizer = build_wordpiece_tokenizer([t for e in examples for t in (e.question, e.context, e.answer)], 1200)
    info = BackboneInfo.from_model(build_tiny_backbone(len(tokenizer)), tokenizer)
    return examples, tokenizer, info


def _batch(tokenizer, examples, info, max_length=96):
    enc = encode(tokenizer, [e.question for e in examples], [e.context for e in examples], max_length=max_length,
                 stride=32, max_question_tokens=40)
    hidden = torch.zeros(*enc.input_ids.shape, info.hidden_size)
    return HeadBatch.from_encoding(enc, hidden)


def test_span_labels_point_at_the_answer_in_some_window(data):
    examples, tokenizer, info = data
    exs = [e for e in examples if e.answer_type == "span"]
    batch = _batch(tokenizer, exs, info)  # short windows: many contexts are split
    labels = build_head("span", "span", info).build_labels(exs, batch, tokenizer)
    found = {}
    for w, i in enumerate(batch.example_index.tolist()):
        s, e = int(labels["start"][w]), int(labels["end"][w])
        if s > 0:
            found[i] = batch.char_span(w, s, e)
    assert len(found) == len(exs)  # every answer is labelled in at least one window
    for i, span in found.items():
        gold = exs[i].answer_spans[0]
        assert (span["start"], span["end"], span["field"]) == (gold.start, gold.end, gold.field)


def test_tagging_labels_decode_to_the_gold_spans(data):
    examples, tokenizer, info = data
    exs = [e for e in examples if e.answer_type == "spans"]
    batch = _batch(tokenizer, exs, info, max_length=256)
    head = build_head("multispan", "tagging", info)
    labels = head.build_labels(exs, batch, tokenizer)
    logits = torch.nn.functional.one_hot(labels.clamp(min=0), 3).float() * 10
    decoded = head.decode(type("O", (), {"logits": logits})(), batch, tokenizer)
    for ex, pred in zip(exs, decoded):
        assert sorted((s["start"], s["end"]) for s in pred["spans"]) == sorted((s.start, s.end) for s in ex.answer_spans)


def test_generative_targets_decode_to_the_answer(data):
    examples, tokenizer, info = data
    exs = [e for e in examples if e.answer_type in ("number", "summary")]
    head = build_head("gen", "generative", info, {"max_target_tokens": 48})
    batch = _batch(tokenizer, exs, info, max_length=256)
    labels = head.build_labels(exs, batch, tokenizer)
    for ex, target in zip(exs, labels["target_ids"].tolist()):
        ids = [t for t in target if t != -100]
        assert ids[-1] == info.eos_token_id
        assert normalize_answer(tokenizer.decode(ids[:-1])) == normalize_answer(ex.answer)
