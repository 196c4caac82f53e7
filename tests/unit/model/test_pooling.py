"""Classification heads pool by the attention mask: padding, and how many windows an input was
cut into, do not change the vector a head classifies."""
from __future__ import annotations

import pytest
import torch

from model import BackboneInfo, build_head
from model.encoding import SEG_CONTEXT, SEG_QUESTION, SEG_SPECIAL
from model.heads.base import HeadBatch
from model.heads.classification import POOLING_MODES

INFO = BackboneInfo(model_type="bert", hidden_size=16, num_attention_heads=2, vocab_size=50, max_position_embeddings=64,
                    hidden_dropout_prob=0.1, pad_token_id=0, bos_token_id=2, eos_token_id=3)


def _batch(hidden: torch.Tensor, real: int, question: int) -> HeadBatch:
    """One input: [CLS], `question` question tokens, [SEP], context tokens up to `real`, [SEP],
    then padding to the hidden states' length."""
    length = hidden.shape[1]
    segments = torch.full((1, length), SEG_SPECIAL)
    segments[0, 1:1 + question] = SEG_QUESTION
    segments[0, 2 + question:real - 1] = SEG_CONTEXT
    mask = torch.zeros((1, length), dtype=torch.long)
    mask[0, :real] = 1
    return HeadBatch(hidden, mask, segments, torch.zeros((1, length, 2), dtype=torch.long), torch.tensor([0]),
                     ["q"], ["c"])


@pytest.mark.parametrize("pooling", POOLING_MODES)
def test_padding_does_not_change_the_pooled_vector(pooling):
    head = build_head("yesno", "classification", INFO, {"labels": ["yes", "no"], "pooling": pooling}).eval()
    torch.manual_seed(0)
    hidden = torch.randn(1, 12, 16)
    padded = torch.cat([hidden, 100 * torch.randn(1, 20, 16)], dim=1)  # padding with loud garbage
    short, long = _batch(hidden, 12, 3), _batch(padded, 12, 3)
    assert torch.allclose(head.pool(short), head.pool(long), atol=1e-6)
    assert torch.allclose(head(short).logits, head(long).logits, atol=1e-5)


def test_mean_pooling_reads_the_tokens_not_only_cls():
    head = build_head("yesno", "classification", INFO, {"labels": ["yes", "no"], "pooling": "mean"}).eval()
    hidden = torch.randn(1, 12, 16)
    other = hidden.clone()
    other[0, 5] += 10.0  # one context token differs, [CLS] does not
    assert not torch.allclose(head.pool(_batch(hidden, 12, 3)), head.pool(_batch(other, 12, 3)))


def test_an_unknown_pooling_mode_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown pooling mode 'max'; valid modes: \['mean'"):
        build_head("yesno", "classification", INFO, {"labels": ["yes", "no"], "pooling": "max"})


def test_new_heads_pool_by_the_mask_and_old_checkpoints_keep_cls():
    from model.heads.classification import ClassificationHead

    assert ClassificationHead.new_config({"labels": ["yes", "no"]})["pooling"] == "mean"
    # a config stored before pooling existed was trained on [CLS]: rebuilding it must not change that
    assert build_head("yesno", "classification", INFO, {"labels": ["yes", "no"]}).pooling == "cls"


def test_question_attention_reads_every_window_of_an_input_as_one_passage():
    """An input cut into two windows is read with one softmax over both windows' context: the
    same reads as one window holding the whole context (question and specials repeat per window)."""
    from model.heads.context_reads import ContextReads

    torch.manual_seed(0)
    reader = ContextReads(16).eval()
    question, context = torch.randn(3, 16), torch.randn(8, 16)
    cls, sep = torch.randn(1, 16), torch.randn(1, 16)

    def window(ctx: torch.Tensor) -> torch.Tensor:
        return torch.cat([cls, question, sep, ctx, sep])

    whole = window(context)[None]
    split = torch.nn.utils.rnn.pad_sequence([window(context[:5]), window(context[5:])], batch_first=True)
    def keep(lengths: list[int], total: int) -> torch.Tensor:
        mask = torch.zeros((len(lengths), total), dtype=torch.bool)
        for i, n in enumerate(lengths):
            mask[i, 5:5 + n] = True
        return mask
    q = question.mean(0, keepdim=True)
    one = reader(whole, keep([8], whole.shape[1]), q, torch.tensor([0]))[0]
    two = reader(split, keep([5, 3], split.shape[1]), q, torch.tensor([0, 0]))[0]
    assert one.shape == (1, 2, 16)
    assert torch.allclose(one, two, atol=1e-5)
    # and the question steers the reads: another question reads the same passage differently
    assert not torch.allclose(one, reader(whole, keep([8], whole.shape[1]), -3 * q, torch.tensor([0]))[0], atol=1e-3)
