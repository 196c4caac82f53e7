"""The derivation behind the service's arithmetic explanations and the analysis' `derives_target`."""
from __future__ import annotations

from model.arithmetic import Candidate, derive, parse_number, parse_whole_number


def spans(*texts: str, scores=None, from_set=False) -> list[Candidate]:
    scores = scores or [1.0] * len(texts)
    return [Candidate(t, s, parse_number(t), from_set) for t, s in zip(texts, scores)]


def test_finds_the_difference_of_two_spans():
    d = derive(7, spans("24", "17"))
    assert d.consistent and d.operation == "difference"
    assert d.expression == "24 - 17 = 7"
    assert d.arguments == [0, 1]


def test_reads_numbers_inside_longer_spans_and_with_thousands_separators():
    d = derive(3774, spans("1,575 residents", "2199 people lived there"))
    assert d.consistent and d.expression == "1575 + 2199 = 3774"


def test_sums_three_spans():
    d = derive(4330, spans("1237", "1105", "1988"))
    assert d.consistent and d.operation == "sum" and sorted(d.arguments) == [0, 1, 2]


def test_counts_the_spans_of_a_multi_span_head():
    d = derive(2, spans("28-yard touchdown", "a 3-yard run", from_set=True))
    assert d.consistent and d.operation == "count"


def test_prefers_the_arguments_the_heads_scored_highest():
    # 10 is 24 - 14 and 17 - 7; the 24/14 pair is what the heads are sure of.
    d = derive(10, spans("24", "14", "17", "7", scores=[0.9, 0.8, 0.1, 0.1]))
    assert d.expression == "24 - 14 = 10"


def test_declines_when_no_operation_fits():
    d = derive(5, spans("24", "17"))
    assert not d.consistent and d.operation is None
    assert "24, 17" in d.message and "5" in d.message


def test_declines_without_numbers():
    d = derive(3, spans("the Bears", "Linda Rossi"))
    assert not d.consistent and "none" in d.message


def test_parsing_numbers():
    assert parse_number("a 28-yard field goal") == 28
    assert parse_number("no number") is None
    assert parse_whole_number(" 1,575 ") == 1575
    assert parse_whole_number("7 points") is None
    assert parse_whole_number("-3") == -3
