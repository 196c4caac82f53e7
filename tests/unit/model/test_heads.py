"""Each head kind on the tiny config: shapes, loss only with labels, a loss that training lowers,
and decode that returns what a person reads."""
from __future__ import annotations

import pytest
import torch

from model import encode
from model.encoding import SEG_CONTEXT
from model.heads import HEAD_KINDS, build_head, register_head
from model.heads.base import Head

from tests.unit.model.conftest import CONTEXT, QUESTION


def _batch(model, tokenizer, examples, **kw):
    enc = encode(tokenizer, [e.question for e in examples], [e.context for e in examples], max_length=96, stride=32, max_question_tokens=24, **kw)
    return enc, model.encode(enc)


def test_registry_refuses_a_kind_registered_twice():
    assert {"span", "tagging", "classification", "generative"} <= set(HEAD_KINDS)
    with pytest.raises(ValueError, match="registered twice"):
        @register_head("span")
        class Another(Head):
            pass


def test_output_shapes_and_loss_only_with_labels(tiny_model, tokenizer, examples):
    enc, batch = _batch(tiny_model, tokenizer, examples)
    w, t = enc.input_ids.shape
    span = tiny_model.heads["span"](batch)
    assert span.start_logits.shape == (w, t) and span.loss is None
    tags = tiny_model.heads["multispan"](batch)
    assert tags.logits.shape == (w, t, 3) and tags.loss is None
    cls = tiny_model.heads["answer_type"](batch)
    assert cls.logits.shape == (len(examples), 3) and cls.loss is None
    gen = tiny_model.heads["number"](batch)
    assert gen.sequences.shape[0] == len(examples) and gen.sequences.shape[1] <= 6 and gen.loss is None
    for name, head in tiny_model.heads.items():
        labels = head.build_labels(examples, batch, tokenizer)
        out = head(batch, labels)
        assert out.loss is not None and out.loss.ndim == 0 and torch.isfinite(out.loss), name


def test_a_span_head_with_nothing_to_extract_in_a_batch_adds_no_loss_and_no_nan(tiny_model, tokenizer, examples):
    # a batch whose span-task rows are all computed numbers (a difference here): no window has a
    # span to extract, which must cost nothing rather than stop training with a NaN loss
    computed = [e for e in examples if e.task == "drop_number"]
    _, batch = _batch(tiny_model, tokenizer, computed)
    head = tiny_model.heads["span"]
    labels = head.build_labels(computed, batch, tokenizer)
    assert (labels["start"] == -100).all()
    loss = head(batch, labels).loss
    assert torch.isfinite(loss) and loss.item() == 0.0
    # and where one row has a span, the loss is the mean over that row alone, as before
    _, mixed = _batch(tiny_model, tokenizer, examples)
    mixed_labels = head.build_labels(examples, mixed, tokenizer)
    out = head(mixed, mixed_labels)
    kept = mixed_labels["start"] != -100
    expected = (torch.nn.functional.cross_entropy(out.start_logits[kept], mixed_labels["start"][kept])
                + torch.nn.functional.cross_entropy(out.end_logits[kept], mixed_labels["end"][kept])) / 2
    assert torch.allclose(out.loss, expected)
    # the same holds for a classifier whose rows carry no label it knows
    classifier = tiny_model.heads["answer_type"]
    unknown = torch.full((len(computed),), -100)
    assert classifier(batch, unknown).loss.item() == 0.0


@pytest.mark.parametrize("head_name", ["span", "multispan", "answer_type", "number"])
def test_a_few_steps_lower_each_heads_loss(tiny_model, tokenizer, examples, head_name):
    tiny_model.train()
    head = tiny_model.heads[head_name]
    opt = torch.optim.Adam(tiny_model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        _, batch = _batch(tiny_model, tokenizer, examples)
        loss = head(batch, head.build_labels(examples, batch, tokenizer)).loss
        loss.backward(), opt.step(), opt.zero_grad()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * losses[0], losses


def test_decode_returns_readable_outputs_with_character_offsets(tiny_model, tokenizer, examples):
    enc, batch = _batch(tiny_model, tokenizer, examples)
    span = tiny_model.heads["span"].decode(tiny_model.heads["span"](batch), batch, tokenizer)
    for ex, pred in zip(examples, span):
        source = ex.context if pred["field"] == "context" else ex.question
        assert source[pred["start"]:pred["end"]] == pred["text"] and 0 <= pred["score"] <= 1
    tags = tiny_model.heads["multispan"].decode(tiny_model.heads["multispan"](batch), batch, tokenizer)
    assert all(isinstance(p["spans"], list) for p in tags)
    cls = tiny_model.heads["answer_type"].decode(tiny_model.heads["answer_type"](batch), batch, tokenizer)
    assert all(p["label"] in {"number", "span", "spans"} and abs(sum(p["probabilities"].values()) - 1) < 1e-5 for p in cls)
    gen = tiny_model.heads["number"].decode(tiny_model.heads["number"](batch), batch, tokenizer)
    assert all(isinstance(p["text"], str) and 0 <= p["score"] <= 1 for p in gen)


def test_trained_span_and_tagging_heads_decode_the_gold_spans(tiny_model, tokenizer, examples):
    """After fitting three examples, decode gives back the gold text at the gold offsets."""
    tiny_model.train()
    opt = torch.optim.Adam(tiny_model.parameters(), lr=5e-3)
    span_ex, tag_ex = [examples[2]], [examples[1]]
    for _ in range(60):
        for head_name, exs in (("span", span_ex), ("multispan", tag_ex)):
            _, batch = _batch(tiny_model, tokenizer, exs)
            head = tiny_model.heads[head_name]
            head(batch, head.build_labels(exs, batch, tokenizer)).loss.backward()
        opt.step(), opt.zero_grad()
    tiny_model.eval()
    _, batch = _batch(tiny_model, tokenizer, span_ex)
    pred = tiny_model.heads["span"].decode(tiny_model.heads["span"](batch), batch, tokenizer)[0]
    assert (pred["text"], pred["start"]) == ("Dover", CONTEXT.index("Dover"))
    _, batch = _batch(tiny_model, tokenizer, tag_ex)
    pred = tiny_model.heads["multispan"].decode(tiny_model.heads["multispan"](batch), batch, tokenizer)[0]
    assert [s["text"] for s in pred["spans"]] == ["Bears", "Lions"]


@pytest.mark.parametrize("copy", [None, {"copy": True}, {"copy": True, "copy_continuation": True},
                                  {"copy": True, "copy_continuation": True, "copy_coverage": True}])
def test_generation_with_cache_equals_generation_without(tiny_model, tokenizer, examples, copy):
    """Greedy decoding with the key/value cache picks the same tokens as re-running the decoder
    on the whole prefix each step (with and without the copy mixture, and its continuation)."""
    head = tiny_model.heads["number"]
    if copy:
        torch.manual_seed(0)
        head = build_head("number", "generative", head.info, {"max_target_tokens": 6, **copy},
                          word_embeddings=tiny_model.backbone.get_input_embeddings()).eval()
    _, batch = _batch(tiny_model, tokenizer, examples)
    cached = head(batch).sequences
    memory = head._memory(batch)
    prefix = torch.full((len(examples), 1), head.info.bos_token_id)
    for _ in range(cached.shape[1]):
        x = head._embed(prefix, 0)
        for layer, kv in zip(head.layers, memory.kv):
            x, _ = layer(x, kv, memory.mask, None)
        prefix = torch.cat([prefix, head._log_probs(x, memory, prefix)[:, -1].argmax(-1, keepdim=True)], 1)
    uncached = prefix[:, 1:]
    finished = torch.zeros(len(examples), dtype=torch.bool)
    for step in range(cached.shape[1]):  # after EOS the cached path writes padding
        assert torch.equal(cached[~finished, step], uncached[~finished, step])
        finished |= cached[:, step] == head.info.eos_token_id


def test_long_context_is_windowed_not_cut(tiny_model, tokenizer):
    long_context = " ".join([CONTEXT] * 12)
    enc = encode(tokenizer, [QUESTION], [long_context], max_length=64, stride=16, max_question_tokens=24)
    assert enc.windows_per_input == [enc.input_ids.shape[0]] and enc.input_ids.shape[0] > 1
    last_char = max(int(enc.offsets[w][enc.segments[w] == 2][:, 1].max()) for w in range(enc.input_ids.shape[0]))
    assert last_char == len(long_context)  # the final "." is still read
    batch = tiny_model.encode(enc)
    cls = tiny_model.heads["answer_type"](batch)
    assert cls.logits.shape == (1, 3)  # windows pooled back into one input


def test_segments_follow_the_tokenizers_per_token_map(tokenizer):
    from model.encoding import SEG_CONTEXT, SEG_QUESTION, SEG_SPECIAL

    questions, contexts = [QUESTION, "", "x " * 80], [CONTEXT, CONTEXT, " ".join([CONTEXT] * 6)]
    enc = encode(tokenizer, questions, contexts, max_length=64, stride=16, max_question_tokens=24)
    raw = tokenizer(enc.questions, contexts, truncation="only_second", max_length=64, stride=16,
                    return_overflowing_tokens=True, padding="longest", pad_to_multiple_of=8, return_tensors="pt")
    per_token = [[{0: SEG_QUESTION, 1: SEG_CONTEXT}.get(s, SEG_SPECIAL) for s in raw.sequence_ids(w)]
                 for w in range(raw["input_ids"].shape[0])]
    assert enc.segments.tolist() == per_token
    assert enc.question_truncated == [False, False, True]
    assert not (enc.segments[enc.example_index == 1] == SEG_QUESTION).any()  # no question, no question tokens
    assert (enc.segments == SEG_CONTEXT).any(dim=1).all()  # every window keeps context


def test_a_copying_head_writes_only_input_tokens_when_its_gate_says_copy(tiny_model, tokenizer, examples):
    """The copy mixture is a distribution, and with the gate fully on copying its mass lies only on
    the passage's tokens (never the question's or [CLS]/[SEP]): the pointer half of a pointer-generator."""
    info = tiny_model.heads["number"].info
    head = build_head("number", "generative", info, {"max_target_tokens": 6, "copy": True},
                      word_embeddings=tiny_model.backbone.get_input_embeddings()).eval()
    enc, batch = _batch(tiny_model, tokenizer, examples)
    memory = head._memory(batch)
    x = head._embed(torch.full((len(examples), 1), info.bos_token_id), 0)
    for layer, kv in zip(head.layers, memory.kv):
        x, _ = layer(x, kv, memory.mask, None)
    assert torch.allclose(head._log_probs(x, memory).exp().sum(-1), torch.ones(len(examples), 1), atol=1e-4)
    with torch.no_grad():
        head.copier.gate.bias.fill_(-1e4)  # p_gen = 0: copy only
    probs = head._log_probs(x, memory).exp()[:, 0]
    for i in range(len(examples)):
        windows = batch.windows_of(i)
        passage = {int(t) for w in windows for t, seg, real in zip(enc.input_ids[w], enc.segments[w], enc.attention_mask[w])
                   if int(seg) == SEG_CONTEXT and int(real)}
        support = set((probs[i] > 1e-6).nonzero(as_tuple=True)[0].tolist())
        assert support and support <= passage
        assert not support & {info.pad_token_id, info.bos_token_id, info.eos_token_id}


def test_a_copying_head_refuses_a_batch_without_token_ids(tiny_model, tokenizer, examples):
    head = build_head("number", "generative", tiny_model.heads["number"].info, {"copy": True})
    _, batch = _batch(tiny_model, tokenizer, examples)
    batch.input_ids = None
    with pytest.raises(ValueError, match="needs the batch's input_ids"):
        head(batch)


def test_copy_continuation_goes_on_along_the_passage(tiny_model, tokenizer, examples):
    """With the copy attention itself indifferent (query zeroed) and the gate on copying, what
    follows a written passage token is the token after it in the passage, and after two written
    tokens the one after that pair: continuation alone moves the pointer one position per step."""
    info = tiny_model.heads["number"].info
    head = build_head("number", "generative", info, {"max_target_tokens": 6, "copy": True, "copy_continuation": True},
                      word_embeddings=tiny_model.backbone.get_input_embeddings()).eval()
    with torch.no_grad():
        head.copier.query.weight.zero_()
        head.copier.query.bias.zero_()
        head.copier.gate.bias.fill_(-1e4)  # copy only
    _, batch = _batch(tiny_model, tokenizer, examples[:1])
    memory = head._memory(batch)
    ids, copyable = memory.ids[0].tolist(), memory.copy_mask[0].tolist()
    counts = {t: sum(1 for u, c in zip(ids, copyable) if c and u == t) for t in ids}
    # a passage token that occurs once and is followed by two more passage tokens
    j = next(j for j in range(len(ids) - 2) if all(copyable[j:j + 3]) and counts[ids[j]] == 1)
    written = torch.tensor([[info.bos_token_id, ids[j]]])
    x = head._embed(written, 0)
    for layer, kv in zip(head.layers, memory.kv):
        x, _ = layer(x, kv, memory.mask, None)
    assert head._log_probs(x, memory, written)[0, -1].argmax().item() == ids[j + 1]
    written = torch.tensor([[info.bos_token_id, ids[j], ids[j + 1]]])
    x = head._embed(written, 0)
    for layer, kv in zip(head.layers, memory.kv):
        x, _ = layer(x, kv, memory.mask, None)
    assert head._log_probs(x, memory, written)[0, -1].argmax().item() == ids[j + 2]
    # without continuation the same indifferent attention has no reason to pick the successor
    head.copier.follow.data.zero_()
    probs = head._log_probs(x, memory, written)[0, -1].exp()
    assert probs[ids[j + 2]] < 0.5


def test_copy_continuation_needs_copy(tiny_model):
    with pytest.raises(ValueError, match="copy_continuation needs config.copy: true"):
        build_head("number", "generative", tiny_model.heads["number"].info, {"copy_continuation": True})


def test_copy_coverage_moves_the_pointer_off_what_it_already_copied():
    """A query that points at passage position 0 at every step: with coverage, the second step
    goes elsewhere (the decoder that wrote "1662 - 1662" copied one number twice); decoding step
    by step with the running coverage gives the same distributions as the teacher-forced pass."""
    from model.heads.generative import _CopyDistribution

    hidden, vocab = 8, 20
    copier = _CopyDistribution(hidden, coverage=True)
    with torch.no_grad():
        copier.query.weight.copy_(torch.eye(hidden))
        copier.query.bias.zero_()
        copier.gate.bias.fill_(-1e4)  # copy only
        copier.revisit.fill_(-50.0)
    x = torch.zeros(1, 2, hidden)
    x[..., 0] = 10.0
    keys = torch.zeros(1, 4, hidden)
    keys[0, 0, 0] = 3.0  # position 0 matches the query, the others are indifferent
    memory, ids, mask = torch.randn(1, 4, hidden), torch.tensor([[11, 12, 13, 14]]), torch.ones(1, 4, dtype=torch.bool)
    together, _ = copier.log_probs(x, torch.zeros(1, 2, vocab), memory, keys, ids, mask)
    assert together[0, 0].argmax() == 11 and together[0, 1].argmax() != 11
    spent = torch.zeros(1, 4)
    first, attention = copier.log_probs(x[:, :1], torch.zeros(1, 1, vocab), memory, keys, ids, mask, spent=spent)
    second, _ = copier.log_probs(x[:, 1:], torch.zeros(1, 1, vocab), memory, keys, ids, mask, spent=spent + attention.sum(1))
    assert torch.allclose(torch.cat([first, second], 1), together, atol=1e-5)
    copier.revisit.data.zero_()  # without coverage both steps copy position 0
    again, _ = copier.log_probs(x, torch.zeros(1, 2, vocab), memory, keys, ids, mask)
    assert again[0, 1].argmax() == 11
