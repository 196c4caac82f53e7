"""Span-set scores on hand-made spans with known answers: what hits a reference and what a long
span can no longer win."""
from __future__ import annotations

import pytest

from model.example import Span
from training.analysis.spans import lies_in, mark, score_spans, span_head_top, span_tokens, token_f1

CONTEXT = "The Bears scored 24 points and the Lions scored 17 points."
ARGS = [Span(17, 19, "24"), Span(48, 50, "17")]


def pred(start: int, end: int, field: str = "context") -> dict:
    return {"start": start, "end": end, "text": CONTEXT[start:end], "field": field, "score": 1.0}


def test_exact_arguments_score_one_everywhere():
    s = score_spans([pred(17, 19), pred(48, 57)], ARGS)  # "24", "17 points"
    assert (s.precision, s.recall, s.exact_set, s.f1) == (1.0, 1.0, 1.0, 1.0)
    exact = score_spans([pred(17, 19), pred(48, 57)], ARGS, rule="exact")
    assert (exact.precision, exact.recall) == (0.5, 0.5)  # "17 points" is not exactly "17"


def test_a_number_with_its_unit_points_at_the_argument():
    assert token_f1(pred(17, 26), ARGS[0]) == pytest.approx(2 / 3)  # "24 points"


def test_the_whole_passage_points_at_no_argument_and_lies_in_no_sentence():
    whole = pred(0, len(CONTEXT))
    s = score_spans([whole], ARGS)
    assert (s.precision, s.recall, s.f1) == (0.0, 0.0, 0.0)
    first_clause = Span(0, 26, CONTEXT[0:26])
    assert not lies_in(whole, first_clause)
    assert score_spans([whole], [first_clause], rule="lies_in").recall == 0.0


def test_a_short_span_inside_a_fact_lies_in_it_and_one_over_two_facts_does_not():
    fact = Span(0, 26, CONTEXT[0:26])  # "The Bears scored 24 points"
    assert lies_in(pred(17, 19), fact)
    assert lies_in(pred(10, 30), fact)  # "scored 24 points and": 4 of its 5 words
    assert not lies_in(pred(17, 57), fact)  # 2 of its 9 words


def test_half_found_with_one_wrong_span():
    s = score_spans([pred(17, 19), pred(4, 9)], ARGS)  # "24", "Bears"
    assert s.precision == 0.5 and s.recall == 0.5 and s.exact_set == 0.0


def test_grazing_an_argument_with_a_cut_word_is_not_pointing_at_it():
    s = score_spans([pred(18, 29)], ARGS)  # "4 points an"
    assert s.recall == 0.0


def test_a_span_in_the_question_does_not_match_the_context():
    assert score_spans([pred(17, 19, field="question")], ARGS).recall == 0.0


def test_no_prediction_scores_zero():
    s = score_spans([], ARGS)
    assert (s.precision, s.recall, s.exact_set) == (0.0, 0.0, 0.0)


def test_one_span_covering_both_arguments_finds_neither():
    s = score_spans([pred(17, 50)], ARGS)
    assert s.recall == 0.0 and s.exact_set == 0.0


def test_recall_counts_only_as_many_references_as_spans_were_allowed():
    four = [*ARGS, Span(4, 9, "Bears"), Span(35, 40, "Lions")]
    three = [pred(17, 19), pred(48, 50), pred(4, 9)]
    assert score_spans(three, four).recall == 0.75
    assert score_spans(three, four, k=3).recall == 1.0
    assert score_spans(three[:1], four, k=3).recall == pytest.approx(1 / 3)


def test_unknown_rule_is_refused_by_name():
    with pytest.raises(ValueError, match="points_at"):
        score_spans([pred(17, 19)], ARGS, rule="overlap")  # type: ignore[arg-type]


def test_span_length_is_counted_in_words():
    assert span_tokens(pred(0, len(CONTEXT))) == 11 and span_tokens(ARGS[0]) == 1


def test_span_head_top_takes_best_then_alternatives():
    p = {**pred(17, 19), "alternatives": [pred(48, 50), pred(4, 9)]}
    assert [s["text"] for s in span_head_top(p, 2)] == ["24", "17"]


def test_mark_wraps_spans_in_order():
    assert mark("a b c", [(4, 5, "y"), (0, 1, "x")]) == "[[a]]^x b [[c]]^y"


def test_a_reference_is_required():
    with pytest.raises(ValueError):
        score_spans([pred(0, 3)], [])
