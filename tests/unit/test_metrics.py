"""The official SQuAD v1.1 and DROP scores on hand-made cases, each worked out in its comment."""
from __future__ import annotations

import itertools
import random

import pytest

from training.metrics import (
    best_assignment, drop_normalize, drop_scores, number_match, span_set_scores, squad_scores,
)


# --- SQuAD v1.1 ---


def test_squad_normalises_case_punctuation_and_articles():
    # "the Denver Broncos!" -> "denver broncos", the first gold exactly
    assert squad_scores("the Denver Broncos!", ["Denver Broncos", "Broncos"]) == (1.0, 1.0)


def test_squad_takes_the_best_gold_answer():
    # "broncos of denver" (3 tokens) against "denver broncos": 2 shared, P 2/3, R 1 -> F1 0.8;
    # against "broncos": 1 shared, P 1/3, R 1 -> 0.5. The maximum is 0.8; no gold matches exactly.
    em, f1 = squad_scores("Broncos of Denver", ["Denver Broncos", "the Broncos"])
    assert em == 0.0 and f1 == pytest.approx(0.8)
    # EM and F1 each take their own maximum: EM from the second gold
    assert squad_scores("Broncos", ["Denver Broncos", "Broncos"]) == (1.0, 1.0)


def test_squad_empty_prediction_scores_zero():
    assert squad_scores("", ["Denver Broncos"]) == (0.0, 0.0)
    # evaluate-v1.1.py: no shared token is F1 0, even when both sides normalise to nothing
    assert squad_scores("the", ["a"]) == (1.0, 0.0)


def test_squad_needs_a_gold_answer():
    with pytest.raises(ValueError, match="no gold answers"):
        squad_scores("x", [])


# --- DROP ---


def test_drop_normalisation():
    assert drop_normalize("The Denver-based team") == "denver based team"  # hyphen splits tokens
    assert drop_normalize("7") == drop_normalize("7.0") == "7.0"
    assert drop_normalize("1,000 yards") == "1000.0 yards"  # the comma goes, then it is a number


def test_drop_two_bags_aligned_one_to_one():
    # gold "carolina panthers" vs pred "carolina": P 1, R 1/2 -> 2/3; gold "denver" vs pred
    # "denver broncos": P 1/2, R 1 -> 2/3; the crossed pairs share nothing. Best pairing: 4/3 over
    # 2 spans = 0.667 -> 0.67 (rounded to two decimals, as the official script does).
    em, f1 = span_set_scores(["Denver Broncos", "Carolina"], ["Carolina Panthers", "Denver"])
    assert (em, f1) == (0.0, 0.67)


def test_drop_numbers_compare_by_value():
    assert span_set_scores("7.0", "7") == (1.0, 1.0)
    assert span_set_scores("1,000", "1000") == (1.0, 1.0)


def test_drop_pair_with_different_numbers_scores_zero():
    # "24.0 yards" vs "17.0 yards" share "yards": token F1 would be 1/2, but the gold's number
    # is not in the prediction, so the pair scores 0.
    assert span_set_scores("24 yards", "17 yards") == (0.0, 0.0)
    # A gold span without a number does not check numbers: "yards" in "24 yards": P 1/2, R 1 -> 2/3
    assert span_set_scores("24 yards", "yards") == (0.0, 0.67)


def test_drop_one_to_one_differs_from_best_match_per_span():
    # Gold {"denver broncos", "denver"}, prediction {"denver"}. Best match per span would give
    # precision 1 and recall (2/3 + 1) / 2 = 5/6, F1 10/11 = 0.91. One to one, the single predicted
    # span pairs with "denver" (1.0) and the other gold span goes unmatched: 1.0 / 2 = 0.5.
    assert span_set_scores(["Denver"], ["Denver Broncos", "Denver"]) == (0.0, 0.5)


def test_drop_em_needs_the_same_number_of_spans():
    # the same set, but two predicted spans for one gold span: not exact; F1 1.0 / 2 = 0.5
    assert span_set_scores(["Denver", "denver"], ["Denver"]) == (0.0, 0.5)
    assert span_set_scores(["Carolina", "Denver"], ["denver", "the Carolina"]) == (1.0, 1.0)


def test_drop_takes_the_best_gold_answer_and_skips_blank_ones():
    # `answer` then `validated_answers`: the second matches exactly; the blank one is not counted
    assert drop_scores("Panthers", [["Carolina Panthers"], ["Panthers"], [""]]) == (1.0, 1.0)
    # Over golds EM and F1 take separate maxima: F1 from the first, neither exact
    assert drop_scores(["Denver"], [["Denver Broncos"], ["Denver", "Carolina"]]) == (0.0, 0.67)
    with pytest.raises(ValueError, match="no gold answer with text"):
        drop_scores("x", [[""], ["  "]])


def _brute_force(scores):
    rows, cols = len(scores), len(scores[0])
    if rows <= cols:
        return max(sum(scores[i][j] for i, j in enumerate(p)) for p in itertools.permutations(range(cols), rows))
    return max(sum(scores[i][j] for j, i in enumerate(p)) for p in itertools.permutations(range(rows), cols))


def test_best_assignment_is_optimal():
    rng = random.Random(3)
    for _ in range(300):
        rows, cols = rng.randint(1, 5), rng.randint(1, 5)
        # coarse values make ties common, which is where a greedy pairing goes wrong
        scores = [[rng.choice([0.0, 0.5, 2 / 3, 1.0]) for _ in range(cols)] for _ in range(rows)]
        assert best_assignment(scores) == pytest.approx(_brute_force(scores))
    # greedy takes the 0.9 and leaves 0.1; the optimum pairs 0.8 + 0.8
    assert best_assignment([[0.9, 0.8], [0.8, 0.1]]) == pytest.approx(1.6)
    assert best_assignment([]) == 0.0


def test_number_match_unchanged():
    assert number_match("7.0", "7") == 1.0 and number_match("1,575", "1575") == 1.0
    assert number_match("8", "7") == 0.0


def test_evaluation_scores_against_every_gold_answer():
    from model.example import Example, Span
    from training.evaluate import score_prediction

    context = "Carolina Panthers played the Denver Broncos."
    spans = [Span(0, 17, "Carolina Panthers"), Span(29, 43, "Denver Broncos")]
    drop = Example(id="d", setting="numeric", task="drop_spans", context=context, answer="", answer_type="spans",
                   answer_spans=spans, extra={"answers": [["Carolina Panthers", "Denver Broncos"], ["Panthers", "Broncos"]]})
    predicted = {"spans": [{"text": "Broncos"}, {"text": "Panthers"}]}
    assert score_prediction(drop, predicted) == {"em": 1.0, "f1": 1.0}  # the validated answer
    squad = Example(id="s", setting="qa_summary", task="squad", context=context, answer="Denver Broncos",
                    answer_type="span", answer_spans=[spans[1]], extra={"answers": ["Denver Broncos", "the Broncos"]})
    assert score_prediction(squad, {"text": "Broncos"}) == {"em": 1.0, "f1": 1.0}
    # without kept answers, the example's own answer is the gold
    squad.extra = {}
    assert score_prediction(squad, {"text": "Broncos"}) == {"em": 0.0, "f1": pytest.approx(2 / 3)}
