"""Span-set scores on hand-made spans with known answers."""
from __future__ import annotations

import pytest

from training.analysis.bootstrap import bootstrap_mean
from training.analysis.spans import mark, score_spans, span_head_top
from model.example import Span

CONTEXT = "The Bears scored 24 points and the Lions scored 17 points."
ARGS = [Span(17, 19, "24"), Span(48, 50, "17")]


def pred(start: int, end: int, field: str = "context") -> dict:
    return {"start": start, "end": end, "text": CONTEXT[start:end], "field": field, "score": 1.0}


def test_exact_arguments_score_one_everywhere():
    s = score_spans([pred(17, 19), pred(48, 57)], ARGS)  # "24", "17 points"
    assert (s.precision, s.recall, s.exact_set, s.f1) == (1.0, 1.0, 1.0, 1.0)


def test_half_found_with_one_wrong_span():
    s = score_spans([pred(17, 19), pred(4, 9)], ARGS)  # "24", "Bears"
    assert s.precision == 0.5 and s.recall == 0.5 and s.exact_set == 0.0


def test_grazing_an_argument_by_one_character_is_not_pointing_at_it():
    s = score_spans([pred(18, 29)], ARGS)  # "4 points an"
    assert s.recall == 0.0


def test_a_span_in_the_question_does_not_match_the_context():
    assert score_spans([pred(17, 19, field="question")], ARGS).recall == 0.0


def test_no_prediction_scores_zero():
    s = score_spans([], ARGS)
    assert (s.precision, s.recall, s.exact_set) == (0.0, 0.0, 0.0)


def test_one_span_covering_both_arguments_is_not_an_exact_set():
    s = score_spans([pred(17, 50)], ARGS)
    assert s.recall == 1.0 and s.exact_set == 0.0


def test_span_head_top_takes_best_then_alternatives():
    p = {**pred(17, 19), "alternatives": [pred(48, 50), pred(4, 9)]}
    assert [s["text"] for s in span_head_top(p, 2)] == ["24", "17"]


def test_mark_wraps_spans_in_order():
    assert mark("a b c", [(4, 5, "y"), (0, 1, "x")]) == "[[a]]^x b [[c]]^y"


def test_bootstrap_interval_contains_the_mean_and_shrinks_with_n():
    small = bootstrap_mean([0, 1] * 10)
    large = bootstrap_mean([0, 1] * 500)
    assert small.low <= 0.5 <= small.high and large.low <= 0.5 <= large.high
    assert (large.high - large.low) < (small.high - small.low)
    assert bootstrap_mean([1.0] * 5).as_dict() == {"mean": 1.0, "low": 1.0, "high": 1.0, "n": 5}
    assert bootstrap_mean([0.2, 0.9]).excludes(bootstrap_mean([5.0, 6.0]))


def test_a_reference_is_required():
    with pytest.raises(ValueError):
        score_spans([pred(0, 3)], [])


def test_closest_sentence_names_the_one_sentence_a_summary_follows_and_no_other():
    from training.analysis.findings import closest_sentence

    text = "The choir was founded in 1920. It sings in Seville. The hall has red seats."
    sentences = [Span(0, 30, text[0:30]), Span(31, 51, text[31:51]), Span(52, 75, text[52:75])]
    assert closest_sentence("the choir sings in seville", sentences) == 1
    # Gibberish overlaps nothing, and a tie picks no sentence: neither counts as following sentence 0.
    assert closest_sentence("zq xv wk", sentences) == -1
    assert closest_sentence("the", sentences[0:1] + [Span(0, 30, text[0:30])]) == -1
    assert closest_sentence("   ", sentences) == -1


class _Summariser:
    """A hand-made summary "head" over known examples: says `pick(example, question)`'s sentence."""

    def __init__(self, examples, pick):
        self.by_input = {}
        for ex in examples:
            spans = ex.extra["sentence_spans"]
            for question in (ex.question, ex.extra["steer_question"], ""):
                a, b = spans[pick(ex, question)]
                self.by_input[(question, ex.context)] = ex.context[a:b]

    def has(self, head):
        return head == "summary"

    def predict(self, questions, contexts, heads):
        return [{"summary": {"text": self.by_input[(q, c)]}} for q, c in zip(questions, contexts)]


def test_steering_counts_a_summary_that_moves_with_the_question_and_not_one_that_stays_put():
    from training.analysis.findings import measure_qa_summary, steerable_examples
    from training.data.synthetic import generate

    examples = steerable_examples(generate("qa_summary", 40, seed=5, split="heldout"))[:20]
    assert len(examples) == 20

    def follows(ex, question):
        if question == ex.question:
            return ex.extra["answer_sentence"]
        return ex.extra["steer_sentence"] if question else 0

    following = measure_qa_summary(_Summariser(examples, follows), examples).values
    assert following["steered"] == [1.0] * len(examples)
    assert following["follows_question"] == [1.0] * len(examples)

    # Always the steering sentence, whatever is asked: it sits there, it was not moved there.
    stays = measure_qa_summary(_Summariser(examples, lambda ex, q: ex.extra["steer_sentence"]), examples).values
    assert stays["steered"] == [0.0] * len(examples)
    assert stays["rouge_gain"] == [0.0] * len(examples)
