"""Multihop ground truth: evidence sentences hold the compared / bridged facts, and the answer
recomputed from the recorded facts equals the example's answer."""
from __future__ import annotations

from collections import Counter

import pytest


def _examples(synthetic):
    return synthetic("multihop", "train") + synthetic("multihop", "heldout")


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_yes_no_balanced(synthetic, split):
    answers = Counter(e.answer for e in synthetic("multihop", split) if e.task == "hotpot_yesno")
    assert set(answers) == {"yes", "no"} and abs(answers["yes"] - answers["no"]) <= 1
    # Balanced inside each question family too, so no family is answerable from its wording.
    by_family = Counter((e.extra["relation"], e.answer) for e in synthetic("multihop", split) if e.task == "hotpot_yesno")
    for relation in ("same", "earlier", "country"):
        yes, no = by_family[(relation, "yes")], by_family[(relation, "no")]
        assert min(yes, no) >= 0.3 * (yes + no), (relation, yes, no)


def test_answers_recomputed_from_facts(synthetic):
    for ex in _examples(synthetic):
        x = ex.extra
        if x["kind"] == "comparison":
            va, vb = x["values"]
            if x["relation"] == "same":
                expected = "yes" if va == vb else "no"
            elif x["relation"] == "earlier":
                expected = "yes" if va < vb else "no"
            else:
                assert va != vb
                expected = x["entities"][0] if va < vb else x["entities"][1]
        elif x["relation"] == "country":
            expected = "yes" if x["asked"] == x["values"][0] else "no"
        else:
            expected = str(x["values"][0])
        assert ex.answer == expected, (ex.question, ex.answer, x)
        if ex.task == "hotpot_yesno":
            assert ex.answer_type == ex.answer and not ex.answer_spans
        else:
            assert ex.answer_type == "span" and ex.answer_spans[0].text == ex.answer


def test_evidence_sentences_hold_the_needed_facts(synthetic):
    for ex in _examples(synthetic):
        x = ex.extra
        ev = ex.evidence_spans
        assert len(ev) == 2
        for span in ev:
            # Whole sentences: start after a title or a previous sentence, end with a full stop.
            assert ex.context[span.start - 2 : span.start] in (": ", ". "), span
            assert span.text.endswith(".") and ex.context[span.end : span.end + 1] in ("", " ", "\n")
        if x["kind"] == "comparison":
            for value, span in zip(x["values"], ev):
                assert str(value) in span.text, (value, span.text)
            if x["relation"] == "same":
                # Different-country "no" answers: each sentence holds its own country only.
                assert ev[0].start != ev[1].start
        else:
            film, director = x["entities"]
            assert director in ev[0].text  # the bridge: the film's director sentence names the person
            assert str(x["values"][0]) in ev[1].text
            # and the fact sentence lies in the director's own paragraph
            line = ex.context[: ev[1].start].rsplit("\n", 1)[-1]
            assert line.startswith(director + ":")


def test_span_answers_sit_in_evidence_or_entity_title(synthetic):
    for ex in _examples(synthetic):
        if ex.task != "hotpot_span":
            continue
        span = ex.answer_spans[0]
        inside = any(e.start <= span.start and span.end <= e.end for e in ex.evidence_spans)
        title = ex.context[span.end : span.end + 2] == ": "
        assert inside or title, (ex.question, span)


def test_question_families_and_entity_types_vary(synthetic):
    examples = _examples(synthetic)
    families = Counter((e.extra["kind"], e.extra["relation"]) for e in examples)
    assert len(families) >= 6
    assert {e.extra["entity_type"] for e in examples} == {"person", "town", "band", "film"}
    # Evidence is not always in the first paragraph.
    first_para = sum("\n" not in e.context[: e.evidence_spans[0].start] for e in examples)
    assert 0.2 < first_para / len(examples) < 0.8
