"""The backbone run in groups of rows of similar length (optim.length_groups): every head reads
the same states, so training and answers are those of one padded pass, only cheaper."""
from __future__ import annotations

import pytest
import torch

from model import encode
from model.backbone import run_backbone
from training.build import build_model
from training.config import load_config
from training.data.synthetic import generate


@pytest.fixture(scope="module")
def quick_heads_on_tiny():
    """Every head of the quick preset (compare_reads, copy decoders, ...) on a tiny backbone, and
    a batch of all three settings, whose inputs differ in length."""
    config = load_config(preset="quick", overrides={"backbone.source": "tiny", "optim.dropout": 0.0})
    examples = [e for s in ("numeric", "multihop", "qa_summary") for e in generate(s, 6, seed=3)]
    model, tokenizer, _ = build_model(config, [t for e in examples for t in (e.question, e.context, e.answer)])
    enc = encode(tokenizer, [e.question for e in examples], [e.context for e in examples], **config.backbone.encoding())
    return config, model.eval(), tokenizer, examples, enc


def _losses_and_grads(config, model, tokenizer, examples, enc, groups: int):
    model.length_groups = groups
    model.zero_grad(set_to_none=True)
    batch = model.encode(enc)
    losses = {}
    for name, tasks in config.head_tasks().items():
        rows = [i for i, e in enumerate(examples) if e.task in tasks]
        sub = batch.select(rows)
        losses[name] = model.heads[name](sub, model.heads[name].build_labels([examples[i] for i in rows], sub, tokenizer)).loss
    sum(losses.values()).backward()
    grads = {n: p.grad.clone() for n, p in model.backbone.named_parameters() if p.grad is not None}
    return {k: v.item() for k, v in losses.items()}, grads, batch.hidden.detach()


def test_groups_give_every_head_the_same_losses_and_backbone_gradients(quick_heads_on_tiny):
    config, model, tokenizer, examples, enc = quick_heads_on_tiny
    lengths = enc.attention_mask.sum(1)
    assert lengths.min() < lengths.max() - 10  # the batch has padding worth skipping
    one_pass, grads_one, hidden_one = _losses_and_grads(config, model, tokenizer, examples, enc, 1)
    grouped, grads_grouped, hidden_grouped = _losses_and_grads(config, model, tokenizer, examples, enc, 4)
    assert grouped == pytest.approx(one_pass, rel=1e-4, abs=1e-5)
    assert grads_one.keys() == grads_grouped.keys() and grads_one
    for name, grad in grads_one.items():
        torch.testing.assert_close(grads_grouped[name], grad, rtol=1e-3, atol=1e-5, msg=name)
    real = enc.attention_mask.bool()
    torch.testing.assert_close(hidden_grouped[real], hidden_one[real], rtol=1e-4, atol=1e-5)
    assert hidden_grouped[~real].abs().max() == 0  # padding is zero, whatever group a row ran in


def test_groups_give_the_same_answers(quick_heads_on_tiny):
    _, model, tokenizer, _, enc = quick_heads_on_tiny
    with torch.no_grad():
        model.length_groups = 1
        one_pass = model.predict(enc, tokenizer)
        model.length_groups = 3
        grouped = model.predict(enc, tokenizer)
    assert grouped.keys() == one_pass.keys()
    for head in one_pass:
        for a, b in zip(one_pass[head], grouped[head]):
            assert a.get("text", a.get("label")) == b.get("text", b.get("label")), head


def test_more_groups_than_rows_runs_each_row_alone(quick_heads_on_tiny):
    _, model, _, _, enc = quick_heads_on_tiny
    one = {k: v[:2] for k, v in enc.model_inputs().items()}
    with torch.no_grad():
        whole = model.backbone(**one).last_hidden_state
        alone = run_backbone(model.backbone, one, 16)
    real = one["attention_mask"].bool()
    torch.testing.assert_close(alone[real], whole[real], rtol=1e-4, atol=1e-5)


def test_length_groups_must_be_positive():
    with pytest.raises(ValueError, match="length_groups"):
        load_config(preset="quick", overrides={"optim.length_groups": 0})
