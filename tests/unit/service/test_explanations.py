"""The response's `explanation`: a number derived from every number the non-target heads' top spans
hold, trusted only under the chance bound; the evidence behind a label; nothing for span answers."""
from __future__ import annotations

import pytest

from model.checkpoint import ExplanationChance
from service.pipeline.explanations import explain
from service.pipeline.results import HeadOutput

CONTEXT = "The Bears scored 24 points and the Lions scored 17 points."


def span(text: str, score: float = 0.9, context: str = CONTEXT) -> dict:
    start = context.index(text)
    return {"text": text, "start": start, "end": start + len(text), "field": "context", "score": score}


def number(text: str) -> HeadOutput:
    return HeadOutput(head="number", kind="generative", output={"text": text, "score": -0.1})


def span_head(best: str, *alternatives: str, context: str = CONTEXT) -> HeadOutput:
    return HeadOutput(head="span", kind="span", output={**span(best, context=context),
                                                        "alternatives": [span(a, 0.5, context) for a in alternatives]})


def tagging_head(*texts: str, context: str = CONTEXT) -> HeadOutput:
    return HeadOutput(head="multispan", kind="tagging", output={"spans": [span(t, 0.8, context) for t in texts]})


def test_finds_24_minus_17_from_the_top_spans_under_the_bound():
    e = explain(number("7"), [span_head("24 points", "Lions"), tagging_head("17")], chance=0.01)
    assert e.kind == "arithmetic" and e.consistent is True and e.operation == "difference"
    assert e.expression == "24 - 17 = 7" and e.chance == 0.01 and e.chance_bound == 0.05
    assert [(a.head, a.text, a.start) for a in e.arguments] == [("span", "24 points", 17), ("multispan", "17", 48)]


@pytest.mark.parametrize("chance", [None, 0.05, 0.21])
def test_a_fitting_derivation_is_not_consistent_unless_its_chance_is_below_the_bound(chance):
    e = explain(number("7"), [span_head("24 points"), tagging_head("17")], chance=chance)
    assert e.kind == "none" and e.consistent is False and e.expression is None
    assert "24 - 17 = 7 fits" in e.message
    assert ("never measured" in e.message) if chance is None else (f"{chance:.0%}" in e.message)
    # A service configured with a looser bound trusts the same rate.
    if chance == 0.05:
        assert explain(number("7"), [span_head("24 points"), tagging_head("17")], chance=chance, bound=0.1).consistent


def test_alternatives_are_never_arguments():
    # 24 - 17 only with the span head's second-best span: not what the head extracted.
    e = explain(number("7"), [span_head("24 points", "17 points")], chance=0.01)
    assert e.kind == "none" and e.consistent is False


def test_an_unused_extracted_number_declines_the_derivation():
    e = explain(number("7"), [span_head("24 points"), tagging_head("17", "The Bears")], chance=0.01)
    assert e.kind == "arithmetic"  # a span without a number is not an unused number
    context = "Brown kicked a 30-yard field goal, a 29-yard field goal and a 3-yard run."
    e = explain(number("1"), [span_head("30-yard", context=context), tagging_head("29-yard", "3-yard", context=context)],
                chance=0.01)
    assert e.kind == "none" and "30, 29, 3" in e.message


def test_declines_when_no_operation_fits_and_lists_what_it_tried():
    e = explain(number("5"), [span_head("24 points", "Lions"), tagging_head("17")], chance=0.01)
    assert e.kind == "none" and e.consistent is False and e.expression is None
    assert [a.text for a in e.arguments] == ["24 points", "17"]  # the numeric top spans only
    assert "24, 17" in e.message


def test_declines_without_spans():
    e = explain(number("7"), [], chance=0.01)
    assert e.kind == "none" and e.consistent is False and "no spans" in e.message


def test_consistent_never_comes_with_a_chance_above_the_bound():
    for chance in (None, 0.0, 0.04, 0.05, 0.5):
        for answer in ("7", "41", "24", "2", "5"):
            e = explain(number(answer), [span_head("24 points"), tagging_head("17")], chance=chance)
            if e.consistent:
                assert e.chance is not None and e.chance < e.chance_bound


def test_yes_no_evidence_says_whether_it_lies_in_a_sentence_naming_both_entities():
    context = ("Kingsley: Kingsley is a town. Kingsley was founded in 1388, long before Foxhollow.\n"
               "Foxhollow: Foxhollow lies in Italy. It was founded in 992.")
    question = "Was Kingsley established before Foxhollow?"
    label = HeadOutput(head="yesno", kind="classification", output={"label": "yes", "score": 0.8})
    e = explain(label, [span_head("1388", "992", context=context), tagging_head("992", context=context)],
                question=question, passage=context)
    assert e.kind == "evidence" and e.consistent is None
    assert e.compared_entities == ["Kingsley", "Foxhollow"]
    assert [(a.text, a.in_sentence_with_both_entities) for a in e.arguments] == [("1388", True), ("992", False)]
    assert "1 of 2" in e.message


def test_evidence_without_two_compared_entities_judges_no_span():
    label = HeadOutput(head="yesno", kind="classification", output={"label": "yes", "score": 0.8})
    e = explain(label, [span_head("Bears", "Lions"), tagging_head("Lions")], question="Did it rain?", passage=CONTEXT)
    assert e.kind == "evidence" and e.compared_entities is None
    assert [(a.head, a.text, a.in_sentence_with_both_entities) for a in e.arguments] == [
        ("span", "Bears", None), ("multispan", "Lions", None)]  # top spans only, each once
    assert "fewer than two entities" in e.message


def test_span_answers_and_summaries_have_none():
    assert explain(span_head("Bears"), [tagging_head("17")]) is None
    summary = HeadOutput(head="summary", kind="generative", output={"text": "The Bears won.", "score": -1.0})
    assert explain(summary, [span_head("Bears")]) is None


def test_the_manifest_rate_reaches_the_catalog():
    from model.checkpoint import Manifest
    from service.pipeline.catalog import Catalog
    from training.testing import make_random_checkpoint
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_random_checkpoint(f"{tmp}/tiny")
    assert Catalog.from_manifest(manifest, {}).explanation_chance is None
    measured = Manifest.model_validate({**manifest.model_dump(), "explanation_chance": ExplanationChance(
        rate=0.02, questions=90, wrong_answers="gold - 1, gold + 1", split="validation", heads=["span"]).model_dump()})
    catalog = Catalog.from_manifest(measured, {}, chance_bound=0.1)
    assert (catalog.explanation_chance, catalog.explanation_chance_bound) == (0.02, 0.1)
