"""Question-queried attention reads of a passage (the classification head's
`question_attention` pooling), and the softmax and weighted sum they are made of, shared with the
paragraph reads of a comparison (model/heads/paragraph_reads.py)."""
from __future__ import annotations

import torch
from torch import nn


class ContextReads(nn.Module):
    """`reads` attentions over an input's context tokens (across all of its windows), each queried
    by a projection of the question's mean. Tokens outside `keep` (question, specials, padding) get
    no weight, so padding cannot change a read."""

    def __init__(self, hidden: int, reads: int = 2):
        super().__init__()
        self.reads = reads
        self.query = nn.Linear(hidden, reads * hidden)
        self.key = nn.Linear(hidden, hidden)

    def forward(self, hidden: torch.Tensor, keep: torch.Tensor, question: torch.Tensor,
                example_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(reads [num_inputs, reads, H], weights [W, reads, T]): each input's weights sum to 1
        over all of its windows' tokens."""
        n, h = question.shape[0], hidden.shape[-1]
        queries = self.query(question).view(n, self.reads, h)
        scores = torch.einsum("wrh,wth->wrt", queries[example_index], self.key(hidden)).float() / h ** 0.5
        weights = input_softmax(scores, keep[:, None, :], example_index, n)
        return weighted_read(hidden, weights, example_index, n), weights


def input_softmax(scores: torch.Tensor, keep: torch.Tensor, example_index: torch.Tensor, n: int) -> torch.Tensor:
    """scores [W, R, T] -> weights that sum to 1 over the kept tokens (keep [W, R or 1, T]) of all
    windows of each input; 0 elsewhere, and 0 everywhere for a read with no kept token."""
    w, reads = scores.shape[:2]
    scores = scores.masked_fill(~keep, float("-inf"))
    index = example_index[:, None].expand(w, reads)
    top = scores.new_full((n, reads), float("-inf")).scatter_reduce(0, index, scores.amax(-1), "amax")
    weights = (scores - top.nan_to_num(neginf=0.0)[example_index][..., None]).exp()  # 0 off `keep`
    total = weights.new_zeros((n, reads)).index_add_(0, example_index, weights.sum(-1))
    return weights / total.clamp_min(1e-9)[example_index][..., None]


def weighted_read(hidden: torch.Tensor, weights: torch.Tensor, example_index: torch.Tensor, n: int) -> torch.Tensor:
    """The weighted sum of each input's token vectors -> [n, R, H]."""
    return hidden.new_zeros((n, weights.shape[1], hidden.shape[-1])).index_add_(
        0, example_index, torch.einsum("wrt,wth->wrh", weights.to(hidden.dtype), hidden))
