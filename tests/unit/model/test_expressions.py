"""A number decoder that writes arithmetic: what it learns to write, and what a user gets back."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st

from model.expressions import answer_of, evaluate, target
from model.heads import build_head
from model.heads.generative import GenerativeOutput

from tests.unit.model.test_heads import _batch


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 99_999), min_size=1, max_size=4), st.lists(st.sampled_from("+-"), min_size=3, max_size=3),
       st.booleans())
def test_sums_and_differences_evaluate_to_their_value(numbers, signs, thousands):
    written = lambda n: f"{n:,}" if thousands else str(n)  # noqa: E731 - "1,575" as DROP writes it
    text = written(numbers[0]) + "".join(f" {s} {written(n)}" for s, n in zip(signs, numbers[1:]))
    expected = numbers[0] + sum(n if s == "+" else -n for s, n in zip(signs, numbers[1:]))
    assert evaluate(text) == expected
    # as the WordPiece decoder spaces a comma inside a number ("1, 575")
    assert evaluate(text.replace(",", ", ")) == expected


@pytest.mark.parametrize("text", ["", "Bears", "24 -", "+ 3", "1 + 2 + 3 + 4 + 5", "24 * 17", "7 points", "2 - - 3"])
def test_anything_else_is_not_evaluated_and_comes_back_as_written(text):
    assert evaluate(text) is None
    assert answer_of(text) == {"text": text, "expression": None}


def test_the_answer_is_the_value_and_the_expression_stays_visible():
    assert answer_of("24 - 17") == {"text": "7", "expression": "24 - 17"}
    assert answer_of("1, 028 + 437") == {"text": "1465", "expression": "1,028 + 437"}
    assert answer_of("7") == {"text": "7", "expression": None}  # a count or a max is written as is


def test_a_difference_is_read_larger_minus_smaller():
    assert answer_of("17 - 24") == {"text": "7", "expression": "24 - 17"}
    assert answer_of("1,158 - 1580") == {"text": "422", "expression": "1580 - 1,158"}
    assert answer_of("24 - 17") == {"text": "7", "expression": "24 - 17"}
    assert answer_of("10 + 4 - 20")["text"] == "-6"  # only a two-term difference is reordered


def test_targets_copy_the_arguments_in_order_and_are_never_wrong():
    assert target("difference", ["24", "17"], "7") == "24 - 17"
    assert target("difference", ["the 1567 capture", "1204"], "363") == "1567 - 1204"
    assert target("sum", ["1,028", "437", "12"], "1477") == "1,028 + 437 + 12"
    assert target("count", ["Bears", "Lions"], "2") == "2"
    assert target("max", ["24", "17"], "24") == "24"
    # arguments that do not give the answer (a reader's guess, a typo) teach the answer itself
    assert target("difference", ["24", "17"], "8") == "8"
    assert target("sum", ["24", "no number"], "24") == "24"


def test_an_expression_head_learns_the_expression_and_answers_its_value(tiny_model, tokenizer, examples):
    info = tiny_model.heads["number"].info
    head = build_head("number", "generative", info, {"max_target_tokens": 12, "writes": "expression"},
                      word_embeddings=tiny_model.backbone.get_input_embeddings()).eval()
    number = [e for e in examples if e.task == "drop_number"]  # "24 points ... 17 points", answer 7
    _, batch = _batch(tiny_model, tokenizer, number)
    labels = head.build_labels(number, batch, tokenizer)
    taught = [t for t in labels["target_ids"][0].tolist() if t not in (-100, info.eos_token_id)]
    assert tokenizer.decode(taught).replace(" ", "") == "24-17"
    # what a user gets when the decoder writes that expression
    written = torch.tensor([taught + [info.eos_token_id]])
    out = head.decode(GenerativeOutput(sequences=written, token_logprobs=torch.zeros(written.shape)), batch, tokenizer)[0]
    assert (out["text"], out["expression"]) == ("7", "24 - 17")


def test_an_unknown_writes_value_names_the_valid_ones(tiny_model):
    with pytest.raises(ValueError, match=r"config.writes: unknown value 'program'; valid values: \['text', 'expression'\]"):
        build_head("number", "generative", tiny_model.heads["number"].info, {"writes": "program"})


def _trigrams(row: list[int]) -> list[tuple[int, ...]]:
    return [tuple(row[i:i + 3]) for i in range(len(row) - 2)]


def test_a_summariser_with_no_repeat_never_writes_a_trigram_twice(tiny_model, tokenizer, examples):
    info = tiny_model.heads["number"].info
    emb = tiny_model.backbone.get_input_embeddings()
    _, batch = _batch(tiny_model, tokenizer, examples)
    written = {}
    for rule in (0, 3):
        torch.manual_seed(0)  # the same random decoder, with and without the rule
        head = build_head("summary", "generative", info, {"max_target_tokens": 30, "no_repeat_ngram": rule},
                          word_embeddings=emb).eval()
        # a decoder that prefers two tokens (and never ends) loops unless something stops it
        head.output_bias.data.fill_(-1e4)
        head.output_bias.data[[5, 6]] = 1e4
        written[rule] = head(batch).sequences.tolist()
    assert any(len(set(_trigrams(r))) < len(_trigrams(r)) for r in written[0])  
    for row in written[3]:
        assert len(set(_trigrams(row))) == len(_trigrams(row))


@pytest.mark.parametrize("value", [1, -2, "3", True])
def test_a_bad_no_repeat_length_is_refused(tiny_model, value):
    with pytest.raises(ValueError, match="config.no_repeat_ngram must be 0"):
        build_head("summary", "generative", tiny_model.heads["number"].info, {"no_repeat_ngram": value})
