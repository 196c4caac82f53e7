"""The derivation behind the service's arithmetic explanations and the analysis' `derives_*`: every
extracted number must be an argument, with DROP's operations only."""
from __future__ import annotations

from model.arithmetic import OPERATIONS, Candidate, derive, parse_number, parse_whole_number, wrong_answers


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


def test_max_and_min_use_every_number():
    assert derive(44, spans("12", "44", "30")).expression == "max(12, 44, 30) = 44"
    assert derive(12, spans("12", "44", "30")).operation == "min"


def test_counts_the_spans_of_a_multi_span_head():
    d = derive(2, spans("28-yard touchdown", "a 3-yard run", from_set=True))
    assert d.consistent and d.operation == "count"


def test_a_derivation_that_leaves_an_extracted_number_unused_is_not_one():
    # 24 - 17 = 7, but the heads also extracted 3: the explanation would have to ignore it.
    d = derive(7, spans("24", "17", "3"))
    assert not d.consistent and "24, 17, 3" in d.message
    # Counting a set does not use a number extracted outside it.
    assert not derive(2, [*spans("Brown", "Smith", from_set=True), *spans("30")]).consistent


def test_a_single_number_or_span_is_not_a_computation():
    assert not derive(24, spans("24")).consistent
    assert not derive(1, spans("The Bears scored 24 points and the Lions 17.", from_set=True)).consistent


def test_the_old_search_rationalised_30_minus_29_now_declined():
    # "How many field goals did Kris Brown kick?" answered 1 from spans 30 and 29 among others.
    assert not derive(1, spans("30-yard field goal", "29-yard field goal", "a 3-yard run")).consistent


def test_declines_when_no_operation_fits():
    d = derive(5, spans("24", "17"))
    assert not d.consistent and d.operation is None
    assert "24, 17" in d.message and "5" in d.message


def test_declines_without_numbers():
    d = derive(3, spans("the Bears", "Linda Rossi"))
    assert not d.consistent and "none" in d.message


def test_the_operation_set_is_drops():
    assert set(OPERATIONS) == {"difference", "sum", "max", "min", "count"}
    assert wrong_answers(7) == (6, 8)


def test_parsing_numbers():
    assert parse_number("a 28-yard field goal") == 28
    assert parse_number("no number") is None
    assert parse_whole_number(" 1,575 ") == 1575
    assert parse_whole_number("7 points") is None
    assert parse_whole_number("-3") == -3
