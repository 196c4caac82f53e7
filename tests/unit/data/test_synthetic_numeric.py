"""Numeric ground truth: the operation applied to the argument spans gives the answer."""
from __future__ import annotations

import re
from collections import Counter

import pytest

from training.data.synthetic.common import SPANS_SEPARATOR

OPS = {
    "difference": lambda xs: xs[0] - xs[1],
    "sum": sum,
    "max": max,
    "min": min,
}


def _examples(synthetic, task=None):
    out = synthetic("numeric", "train") + synthetic("numeric", "heldout")
    return [e for e in out if task is None or e.task == task]


def test_number_answers_follow_from_their_arguments(synthetic):
    numbers = _examples(synthetic, "drop_number")
    assert len(numbers) >= 600
    for ex in numbers:
        assert re.fullmatch(r"\d+", ex.answer), ex.answer
        assert ex.answer_type == "number" and not ex.answer_spans
        assert ex.argument_spans, ex.id
        assert all(s.field == "context" for s in ex.argument_spans)
        if ex.operation == "count":
            # The counted mentions: distinct places in the passage, one per counted thing.
            assert len({(s.start, s.end) for s in ex.argument_spans}) == int(ex.answer) >= 1
            continue
        values = [int(s.text) for s in ex.argument_spans]
        assert all(re.fullmatch(r"\d+", s.text) for s in ex.argument_spans)
        assert OPS[ex.operation](values) == int(ex.answer), (ex.question, values, ex.answer)
        assert 0 <= int(ex.answer) < 10000
        if ex.operation == "difference":
            assert len(values) == 2 and values[0] >= values[1]
        if ex.operation in ("max", "min"):
            assert len(values) >= 2 and len(set(values)) == len(values)  # one unambiguous extreme


def test_every_operation_is_used_in_both_splits(synthetic):
    for split in ("train", "heldout"):
        ops = Counter(e.operation for e in synthetic("numeric", split) if e.task == "drop_number")
        assert set(ops) == {"difference", "sum", "count", "max", "min"}
        assert min(ops.values()) >= 0.1 * sum(ops.values())


def test_single_span_answers(synthetic):
    spans = _examples(synthetic, "drop_span")
    fields = Counter()
    for ex in spans:
        assert ex.answer_type == "span" and len(ex.answer_spans) == 1
        assert ex.answer == ex.answer_spans[0].text
        assert ex.operation is None and not ex.argument_spans
        fields[ex.answer_spans[0].field] += 1
    # Some answers are question spans ("Who scored more points, A or B?").
    assert fields["question"] >= 0.1 * len(spans) and fields["context"] >= 0.5 * len(spans)


def test_multi_span_answers(synthetic):
    for ex in _examples(synthetic, "drop_spans"):
        assert ex.answer_type == "spans" and 2 <= len(ex.answer_spans) <= 3
        assert len({s.text for s in ex.answer_spans}) == len(ex.answer_spans)
        assert ex.answer == SPANS_SEPARATOR.join(s.text for s in ex.answer_spans)


def test_passages_have_several_numbers_and_sentences(synthetic):
    for ex in _examples(synthetic):
        assert len(re.findall(r"\d+", ex.context)) >= 2
        assert 3 <= len(re.findall(r"[.!?](?:\s|$)", ex.context)) <= 7


def test_answers_not_tied_to_one_sentence_position(synthetic):
    # Where the (first) argument or answer sits, as a sentence index: must spread out.
    positions = Counter()
    for ex in _examples(synthetic):
        spans = ex.argument_spans or [s for s in ex.answer_spans if s.field == "context"]
        if spans:
            positions[ex.context[: spans[0].start].count(". ")] += 1
    assert len(positions) >= 4
    assert max(positions.values()) <= 0.5 * sum(positions.values())


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_themes_and_question_kinds_vary(synthetic, split):
    examples = synthetic("numeric", split)
    assert set(Counter(e.extra["theme"] for e in examples)) == {"football", "history", "table"}
    assert len({e.template.rsplit(".", 1)[0] for e in examples}) >= 15


def test_a_number_answer_teaches_the_span_head_where_it_stands_verbatim_and_nowhere_else():
    from model.example import Example, Span, span_supervision

    context = "In 1917 the club had 17 members; 7.5 km away, 1,700 fans and 7 coaches watched."
    number = Example(id="n", setting="numeric", task="drop_number", context=context, answer="7", answer_type="number")
    assert span_supervision(number) == [Span(61, 62, "7")]
    computed = Example(id="c", setting="numeric", task="drop_number", context=context, answer="24", answer_type="number")
    assert span_supervision(computed) == []
    # an answer with its own spans keeps them
    named = Example(id="s", setting="numeric", task="drop_span", context=context, answer="the club", answer_type="span",
                    answer_spans=[Span(8, 16, "the club")])
    assert span_supervision(named) == named.answer_spans


def test_max_and_min_answers_stand_in_the_passage_and_give_span_supervision(synthetic):
    from model.example import span_supervision

    minmax = [e for e in synthetic("numeric", "train") if e.operation in ("max", "min")]
    assert minmax and all(span_supervision(e) for e in minmax)
    # the argument that is the answer is among the places taught
    for e in minmax:
        answer_arguments = [a for a in e.argument_spans if a.text == e.answer]
        assert answer_arguments and {a.start for a in answer_arguments} <= {s.start for s in span_supervision(e)}
