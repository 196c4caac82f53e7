"""The number decoder's pointer over whole passage numbers (`copy_numbers`): it finds each
number where the memory has it, teaches "24 - 17" as two pointers and an operator, learns to write
it, and decodes the same with and without the key/value cache."""
from __future__ import annotations

import pytest
import torch

from model import encode
from model.heads import build_head
from model.heads.number_pointer import labels_for, passage_numbers, target_items, used_numbers, written_text

from tests.unit.model.conftest import CONTEXT

POINTER = {"max_target_tokens": 6, "copy": True, "copy_coverage": True, "writes": "expression", "copy_numbers": True}


def _head(tiny_model, seed: int = 0, **config):
    torch.manual_seed(seed)
    return build_head("number", "generative", tiny_model.heads["number"].info, {**POINTER, **config},
                      word_embeddings=tiny_model.backbone.get_input_embeddings())


def _batch(tiny_model, tokenizer, examples, max_length: int = 96, stride: int = 32, max_question_tokens: int = 24):
    enc = encode(tokenizer, [e.question for e in examples], [e.context for e in examples], max_length=max_length,
                 stride=stride, max_question_tokens=max_question_tokens)
    return enc, tiny_model.encode(enc)


def test_passage_numbers_stand_where_the_memory_has_their_first_digit(tiny_model, tokenizer, examples):
    head = _head(tiny_model).eval()
    enc, batch = _batch(tiny_model, tokenizer, examples[:1])
    memory = head._memory(batch)
    numbers = memory.numbers.texts[0]
    assert sorted(numbers.values(), key=float) == ["17", "24", "1987"]
    assert enc.input_ids.shape[0] == 1  # one window: the memory is its real tokens, in order
    memory_ids = enc.input_ids[0][enc.attention_mask[0].bool()]
    for position, text in numbers.items():
        first_token = tokenizer.decode([int(memory_ids[position])]).strip()
        assert first_token and text.startswith(first_token)  # "2" with digits split, "24" here
    assert torch.equal(memory.copy_mask[0].nonzero(as_tuple=True)[0], torch.tensor(sorted(numbers)))


def test_a_number_repeated_by_overlapping_windows_is_right_at_every_place(tiny_model, tokenizer):
    context = " ".join([CONTEXT] * 3)
    enc = encode(tokenizer, ["How many?"], [context], max_length=40, stride=16, max_question_tokens=8)
    batch = tiny_model.encode(enc)
    assert batch.hidden.shape[0] > 1  # several windows, overlapping
    numbers = passage_numbers(batch.attention_mask, batch.segments, batch.offsets, batch.example_index, batch.contexts)
    assert set(numbers.texts[0].values()) == {"24", "17", "1987"}
    assert len(numbers.positions_of(0, "24")) > context.count("24")  # the overlap read some twice
    assert numbers.length == int(batch.attention_mask.sum())


def test_the_target_is_pointers_and_operators_and_a_missing_number_is_written(tiny_model, tokenizer, examples):
    _, batch = _batch(tiny_model, tokenizer, examples[:1])
    numbers = passage_numbers(batch.attention_mask, batch.segments, batch.offsets, batch.example_index, batch.contexts)
    minus = tokenizer("-", add_special_tokens=False)["input_ids"]
    items = target_items("24 - 17", 0, numbers, tokenizer)
    assert items == [numbers.positions_of(0, "24"), *minus, numbers.positions_of(0, "17")]
    assert all(isinstance(t, int) for t in target_items("3", 0, numbers, tokenizer))  # a count: not in the passage
    labels = labels_for([items], numbers.length, 1, 2, 0)
    assert labels["target_points"][0, 0].nonzero().flatten().tolist() == numbers.positions_of(0, "24")
    assert labels["decoder_input_points"][0].tolist() == [-1, numbers.positions_of(0, "24")[0], -1, numbers.positions_of(0, "17")[0]]
    vocab = 100
    assert written_text([vocab + numbers.positions_of(0, "24")[0], *minus, vocab + numbers.positions_of(0, "17")[0]],
                        vocab, numbers.texts[0], tokenizer) == "24 - 17"


def test_the_pointer_mixture_is_a_distribution_over_vocabulary_and_numbers(tiny_model, tokenizer, examples):
    head = _head(tiny_model).eval()
    _, batch = _batch(tiny_model, tokenizer, examples)
    memory = head._memory(batch)
    x = head._embed(torch.full((len(examples), 1), head.info.bos_token_id), 0)
    for layer, kv in zip(head.layers, memory.kv):
        x, _ = layer(x, kv, memory.mask, None)
    probs = head._log_probs(x, memory).exp()[:, 0]
    vocab = head.output_bias.shape[0]
    assert torch.allclose(probs.sum(-1), torch.ones(len(examples)), atol=1e-4)
    assert torch.equal(probs[:, vocab:] > 0, memory.copy_mask)  # only number starts can be pointed at


def test_trained_on_one_question_the_head_writes_its_arithmetic(tiny_model, tokenizer, examples):
    head = _head(tiny_model)
    _, batch = _batch(tiny_model, tokenizer, examples[:1])
    batch.hidden = batch.hidden.detach()
    labels = head.build_labels(examples[:1], batch, tokenizer)
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    head.train()
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = head(batch, labels).loss
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    head.eval()
    answer = head.decode(head(batch), batch, tokenizer)[0]
    assert (answer["text"], answer["expression"]) == ("7", "24 - 17")


def test_generation_with_cache_equals_generation_without(tiny_model, tokenizer, examples):
    head = _head(tiny_model, seed=3).eval()
    with torch.no_grad():
        head.copier.gate.bias.fill_(-2.0)  # points often, so pointed inputs are exercised
    _, batch = _batch(tiny_model, tokenizer, examples)
    cached = head(batch).sequences
    vocab = head.output_bias.shape[0]
    assert (cached >= vocab).any()
    memory = head._memory(batch)
    values = memory.numbers.values()
    written = torch.full((len(examples), 1), head.info.bos_token_id)
    for _ in range(cached.shape[1]):
        points = torch.where(written >= vocab, written - vocab, -1)
        x = head._embed(written.masked_fill(written >= vocab, head.info.pad_token_id), 0, points, memory)
        for layer, kv in zip(head.layers, memory.kv):
            x, _ = layer(x, kv, memory.mask, None)
        logp = head._log_probs(x, memory)[:, -1]
        used = torch.stack([used_numbers(values, points[:, t]) for t in range(points.shape[1])]).any(0)
        logp[:, vocab:] = logp[:, vocab:].masked_fill(used, float("-inf"))
        written = torch.cat([written, logp.argmax(-1, keepdim=True)], 1)
    finished = torch.zeros(len(examples), dtype=torch.bool)
    for step in range(cached.shape[1]):
        assert torch.equal(cached[~finished, step], written[~finished, step + 1])
        finished |= cached[:, step] == head.info.eos_token_id


def test_an_expression_uses_each_passage_number_once(tiny_model, tokenizer, examples):
    """Even a decoder that only wants to point at one number writes each of the passage's numbers
    at most once ("408 - 408" was the quick checkpoint's commonest error), then the vocabulary."""
    head = _head(tiny_model, max_target_tokens=8).eval()
    with torch.no_grad():
        head.copier.gate.bias.fill_(-1e4)  # always point while a number is left
        head.copier.revisit.fill_(0.0)  # no soft coverage: the rule alone
    _, batch = _batch(tiny_model, tokenizer, examples[:1])
    sequence = head(batch).sequences[0].tolist()
    vocab = head.output_bias.shape[0]
    numbers = head._memory(batch).numbers.texts[0]
    pointed = [numbers[t - vocab] for t in sequence if t >= vocab]
    assert sorted(pointed) == sorted(set(numbers.values()))  # all three, none twice
    assert sequence[len(pointed)] < vocab  # then it had to write from the vocabulary


@pytest.mark.parametrize("config, message", [
    ({"writes": "text"}, "copy_numbers needs config.writes: expression"),
    ({"copy_continuation": True}, "copy_numbers and config.copy_continuation exclude each other"),
    ({"copy": False, "copy_coverage": False}, "copy_numbers needs config.copy: true"),
])
def test_a_pointer_config_that_cannot_work_is_refused(tiny_model, config, message):
    with pytest.raises(ValueError, match=message):
        _head(tiny_model, **config)
