"""Multi-span extraction as BIO tagging over tokens (the "MSE" head), decoded to a list of spans
of whole words."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from model.encoding import SEG_SPECIAL
from model.heads.base import Head, HeadBatch, TextSpan, register_head, supervised_cross_entropy
from model.heads.decoding import host_view, B, I, O, decode_tags
from model.heads.labels import token_span

TAGS = ("O", "B", "I")


@dataclass
class TaggingOutput:
    logits: torch.Tensor  # [W, T, 3]
    loss: torch.Tensor | None = None


class TaggedSpans(BaseModel):
    """Every span the BIO tags mark (the multi-span answer), question spans first, then by start."""

    model_config = ConfigDict(extra="allow")
    spans: list[TextSpan]


@register_head("tagging")
class TaggingHead(Head):
    """config: min_score, the mean tag probability a decoded span needs (0.0 keeps all)."""

    output_model = TaggedSpans
    answers_with = "spans"

    @classmethod
    def top_spans(cls, output):
        return list(output.get("spans", [])), True

    @classmethod
    def map_spans(cls, output, fn):
        return {**output, "spans": [fn(s) for s in output.get("spans", [])]}

    def __init__(self, name, info, config):
        super().__init__(name, info, {"min_score": 0.0, **config})
        self.dropout = nn.Dropout(info.hidden_dropout_prob)
        self.classifier = nn.Linear(info.hidden_size, len(TAGS))

    def forward(self, batch: HeadBatch, labels: torch.Tensor | None = None) -> TaggingOutput:
        out = TaggingOutput(self.classifier(self.dropout(batch.hidden)).float())
        if labels is not None:
            out.loss = self.loss(out, labels)
        return out

    def loss(self, output: TaggingOutput, labels: torch.Tensor) -> torch.Tensor:
        return supervised_cross_entropy(output.logits.flatten(0, 1), labels.flatten())

    def build_labels(self, examples: Sequence[Any], batch: HeadBatch, tokenizer=None) -> torch.Tensor:
        labels = torch.full(batch.segments.shape, O, dtype=torch.long)
        labels[batch.segments.cpu() == SEG_SPECIAL] = -100
        for w, ex_i in enumerate(batch.example_index.tolist()):
            ex = examples[ex_i]
            spans = ex.answer_spans if ex.answer_type == "spans" else ex.answer_spans[:1]
            for span in spans:
                found = token_span(batch, w, span)
                if found is None:
                    continue
                s, e = found
                labels[w, s] = B
                labels[w, s + 1 : e + 1] = I
        return labels.to(batch.hidden.device)

    def prepare(self, batch: HeadBatch) -> None:
        host_view(batch)  # the tokens' fields, offsets and word edges decoding reads

    @torch.no_grad()
    def decode(self, output: TaggingOutput, batch: HeadBatch, tokenizer=None) -> list[dict[str, Any]]:
        # Every window's tags read at once, one host copy (decoding.py).
        return decode_tags(batch, output.logits, float(self.config["min_score"]))
