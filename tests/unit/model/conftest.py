"""A tiny random model (hidden 32, 2 layers) over a tokenizer trained on a few sentences."""
from __future__ import annotations

import pytest

from model.example import Example, Span
from model import BackboneInfo, MultiTaskModel, build_head, build_tiny_backbone
from model.tokenizer import build_wordpiece_tokenizer

CONTEXT = "The Bears scored 24 points and the Lions scored 17 points in the 1987 final at Dover."
QUESTION = "How many more points did the Bears score than the Lions?"
TEXTS = [CONTEXT, QUESTION, "Were Anna and Bob born in the same country? yes no", "The museum opened in Paris."] * 20


@pytest.fixture(scope="session")
def tokenizer():
    return build_wordpiece_tokenizer(TEXTS, vocab_size=300)


@pytest.fixture()
def tiny_model(tokenizer):
    backbone = build_tiny_backbone(len(tokenizer), seed=0)
    info = BackboneInfo.from_model(backbone, tokenizer)
    emb = backbone.get_input_embeddings()
    heads = {
        "span": build_head("span", "span", info),
        "multispan": build_head("multispan", "tagging", info),
        "answer_type": build_head("answer_type", "classification", info, {"labels": ["number", "span", "spans"]}),
        "number": build_head("number", "generative", info, {"max_target_tokens": 6}, word_embeddings=emb),
    }
    return MultiTaskModel(backbone, heads, info).eval()


def span_of(text: str, part: str, field: str = "context") -> Span:
    start = text.index(part)
    return Span(start, start + len(part), part, field)


@pytest.fixture()
def examples() -> list[Example]:
    return [
        Example(id="n1", setting="numeric", task="drop_number", context=CONTEXT, question=QUESTION, answer="7",
                answer_type="number", operation="difference",
                argument_spans=[span_of(CONTEXT, "24"), span_of(CONTEXT, "17")]),
        Example(id="s1", setting="numeric", task="drop_spans", context=CONTEXT, question="Which teams scored?",
                answer="Bears, Lions", answer_type="spans",
                answer_spans=[span_of(CONTEXT, "Bears"), span_of(CONTEXT, "Lions")]),
        Example(id="s2", setting="numeric", task="drop_span", context=CONTEXT, question="Where was the final?",
                answer="Dover", answer_type="span", answer_spans=[span_of(CONTEXT, "Dover")]),
    ]
