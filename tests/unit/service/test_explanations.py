"""The response's `explanation`: a number derived from the non-target spans, or declined; the
evidence behind a label; nothing for span answers."""
from __future__ import annotations

from service.explanations import explain
from service.schemas import HeadOutput

CONTEXT = "The Bears scored 24 points and the Lions scored 17 points."


def span(text: str, score: float = 0.9) -> dict:
    start = CONTEXT.index(text)
    return {"text": text, "start": start, "end": start + len(text), "field": "context", "score": score}


def number(text: str) -> HeadOutput:
    return HeadOutput(head="number", kind="generative", output={"text": text, "score": -0.1})


def span_head(best: str, *alternatives: str) -> HeadOutput:
    return HeadOutput(head="span", kind="span", output={**span(best), "alternatives": [span(a, 0.5) for a in alternatives]})


def tagging_head(*texts: str) -> HeadOutput:
    return HeadOutput(head="multispan", kind="tagging", output={"spans": [span(t, 0.8) for t in texts]})


def test_finds_24_minus_17_from_the_span_heads():
    e = explain(number("7"), [span_head("24 points", "Lions"), tagging_head("17")])
    assert e.kind == "arithmetic" and e.consistent is True and e.operation == "difference"
    assert e.expression == "24 - 17 = 7"
    assert [(a.head, a.text, a.start) for a in e.arguments] == [("span", "24 points", 17), ("multispan", "17", 48)]


def test_declines_when_no_operation_fits_and_lists_what_it_tried():
    e = explain(number("5"), [span_head("24 points", "Lions"), tagging_head("17")])
    assert e.kind == "arithmetic" and e.consistent is False and e.expression is None
    assert [a.text for a in e.arguments] == ["24 points", "17"]  # the numeric spans only
    assert "24, 17" in e.message


def test_declines_without_spans():
    e = explain(number("7"), [])
    assert e.consistent is False and "no spans" in e.message


def test_a_label_gets_its_evidence_spans():
    label = HeadOutput(head="yesno", kind="classification", output={"label": "yes", "score": 0.8})
    e = explain(label, [span_head("Bears", "Lions"), tagging_head("Lions")])
    assert e.kind == "evidence" and e.consistent is None
    assert [(a.head, a.text) for a in e.arguments] == [("span", "Bears"), ("span", "Lions")]  # each span once


def test_span_answers_and_summaries_have_none():
    assert explain(span_head("Bears"), [tagging_head("17")]) is None
    summary = HeadOutput(head="summary", kind="generative", output={"text": "The Bears won.", "score": -1.0})
    assert explain(summary, [span_head("Bears")]) is None
