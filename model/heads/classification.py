"""Classification over a pooled representation of the input, e.g. yes / no / span, or the
answer type."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import nn

from model.encoding import SEG_CONTEXT, SEG_QUESTION, SEG_SPECIAL
from model.heads.base import Head, HeadBatch, register_head
from model.heads.labels import number_in_passage

# How a whole input becomes one vector:
#   "mean"                  mean of every real token (question and context) by the attention mask;
#   "cls_question_context"  [CLS; mean of the question; mean of the context] (READER-style: the
#                           question and the passage stay apart, so a comparison can read both);
#   "cls"                   the [CLS] vector, for backbones pre-trained to fill it (a mean-pooling
#                           sentence model such as all-MiniLM leaves it almost constant);
#   "question_attention"    [CLS; mean of the question; two reads of the context, each an attention
#                           queried by the question; their product; their difference]: a yes/no
#                           that compares two facts ("formed earlier than", "the same country") can
#                           read one fact in each, where a mean over the passage blurs both away.
# pooling mode -> how many hidden-size vectors it joins
_PARTS = {"mean": 1, "cls_question_context": 3, "cls": 1, "question_attention": 6}
POOLING_MODES = tuple(_PARTS)


@dataclass
class ClassificationOutput:
    logits: torch.Tensor  # [num_inputs, num_labels]
    loss: torch.Tensor | None = None


def masked_mean(hidden: torch.Tensor, keep: torch.Tensor, example_index: torch.Tensor, num_inputs: int) -> torch.Tensor:
    """Mean of the kept token vectors of each input, over all of its windows -> [num_inputs, H].
    Padding and other dropped tokens contribute nothing, so how much of it there is cannot matter."""
    keep = keep.to(hidden.dtype).unsqueeze(-1)
    sums = hidden.new_zeros((num_inputs, hidden.shape[-1])).index_add_(0, example_index, (hidden * keep).sum(1))
    counts = hidden.new_zeros((num_inputs, 1)).index_add_(0, example_index, keep.sum(1))
    return sums / counts.clamp(min=1.0)


class ClassLabel(BaseModel):
    """The most probable label, its probability, and every label's probability."""

    model_config = ConfigDict(extra="allow")
    label: str
    score: float
    probabilities: dict[str, float]


class ContextReads(nn.Module):
    """`reads` attentions over an input's context tokens (across all of its windows), each queried
    by a projection of the question's mean -> [num_inputs, reads, H]. Tokens outside `keep`
    (question, specials, padding) get no weight, so padding cannot change a read."""

    def __init__(self, hidden: int, reads: int = 2):
        super().__init__()
        self.reads = reads
        self.query = nn.Linear(hidden, reads * hidden)
        self.key = nn.Linear(hidden, hidden)

    def forward(self, hidden: torch.Tensor, keep: torch.Tensor, question: torch.Tensor,
                example_index: torch.Tensor) -> torch.Tensor:
        n, (w, _, h) = question.shape[0], hidden.shape
        queries = self.query(question).view(n, self.reads, h)[example_index]  # [W, R, H]
        scores = torch.einsum("wrh,wth->wrt", queries, self.key(hidden)).float() / h ** 0.5
        scores = scores.masked_fill(~keep[:, None, :], float("-inf"))
        # one softmax over every window of an input: subtract the input's max, normalise by its sum
        index = example_index[:, None].expand(w, self.reads)
        top = scores.new_full((n, self.reads), float("-inf")).scatter_reduce(0, index, scores.amax(-1), "amax")
        weights = (scores - top.nan_to_num(neginf=0.0)[example_index][..., None]).exp()  # 0 off `keep`
        total = weights.new_zeros((n, self.reads)).index_add_(0, example_index, weights.sum(-1))
        read = hidden.new_zeros((n, self.reads, h)).index_add_(
            0, example_index, torch.einsum("wrt,wth->wrh", weights.to(hidden.dtype), hidden))
        return read / total.clamp_min(1e-9)[..., None].to(hidden.dtype)


@register_head("classification")
class ClassificationHead(Head):
    """config: labels, the label names (an example's label is its answer_type); pooling, one of
    POOLING_MODES. A new head pools by the mask ("mean", see new_config); a checkpoint written
    before pooling was configurable has none in its config and was trained on [CLS], so a head
    built from such a config keeps "cls"."""

    output_model = ClassLabel

    def __init__(self, name, info, config):
        try:
            self.check_config(config)
        except ValueError as err:
            raise ValueError(f"head {name!r}: {err}") from None
        labels = list(config["labels"])
        super().__init__(name, info, {"pooling": "cls", **config, "labels": labels})
        self.labels = labels
        self.pooling = self.config["pooling"]
        self.reader = ContextReads(info.hidden_size) if self.pooling == "question_attention" else None
        self.dense = nn.Linear(_PARTS[self.pooling] * info.hidden_size, info.hidden_size)
        self.dropout = nn.Dropout(info.hidden_dropout_prob)
        self.classifier = nn.Linear(info.hidden_size, len(labels))

    @classmethod
    def new_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {"pooling": "mean", **config}

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        labels = list(config.get("labels") or [])
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"config.labels must list at least 2 distinct labels, got {labels}")
        pooling = config.get("pooling", "mean")
        if pooling not in POOLING_MODES:
            raise ValueError(f"config.pooling: unknown pooling mode {pooling!r}; valid modes: {list(POOLING_MODES)}")
        unknown = sorted(set(config) - {"labels", "pooling"})
        if unknown:
            raise ValueError(f"config: unknown keys {unknown} for a classification head; valid keys: ['labels', 'pooling']")

    def pool(self, batch: HeadBatch) -> torch.Tensor:
        """One vector per input ([num_inputs, parts * H])."""
        hidden, n = batch.hidden, batch.num_inputs
        real = batch.attention_mask.bool() & (batch.segments != SEG_SPECIAL)
        if self.pooling == "mean":
            return masked_mean(hidden, real, batch.example_index, n)
        cls = masked_mean(hidden[:, :1], torch.ones_like(real[:, :1]), batch.example_index, n)
        if self.pooling == "cls":
            return cls
        question = masked_mean(hidden, real & (batch.segments == SEG_QUESTION), batch.example_index, n)
        if self.reader is not None:
            first, second = self.reader(hidden, real & (batch.segments == SEG_CONTEXT), question,
                                        batch.example_index).unbind(1)
            return torch.cat([cls, question, first, second, first * second, first - second], dim=-1)
        context = masked_mean(hidden, real & (batch.segments == SEG_CONTEXT), batch.example_index, n)
        return torch.cat([cls, question, context], dim=-1)

    def forward(self, batch: HeadBatch, labels: torch.Tensor | None = None) -> ClassificationOutput:
        pooled = torch.tanh(self.dense(self.dropout(self.pool(batch))))
        out = ClassificationOutput(self.classifier(self.dropout(pooled)).float())
        if labels is not None:
            out.loss = self.loss(out, labels)
        return out

    def loss(self, output: ClassificationOutput, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output.logits, labels, ignore_index=-100)

    def build_labels(self, examples: Sequence[Any], batch: HeadBatch, tokenizer=None) -> torch.Tensor:
        index = {label: i for i, label in enumerate(self.labels)}
        return torch.tensor([index.get(label_of(ex, self.labels), -100) for ex in examples], device=batch.hidden.device)

    @torch.no_grad()
    def decode(self, output: ClassificationOutput, batch: HeadBatch, tokenizer=None) -> list[dict[str, Any]]:
        probs = output.logits.float().softmax(-1).tolist()
        return [
            {
                "label": self.labels[max(range(len(p)), key=p.__getitem__)],
                "score": max(p),
                "probabilities": dict(zip(self.labels, p)),
            }
            for p in probs
        ]


def label_of(example: Any, labels: Sequence[str]) -> str:
    """An example's class: its answer type, except that a number answer standing verbatim in the
    passage (a max / min / the value of one fact) is a "span" for an answer-type head that has
    both labels, as GenBERT labels DROP: the span head extracts it, the decoder need not compute."""
    if example.answer_type == "number" and {"number", "span"} <= set(labels) and number_in_passage(example):
        return "span"
    return example.answer_type

