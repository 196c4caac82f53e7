"""Classification over the [CLS] representation, e.g. yes / no / span, or the answer type."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from model.heads.base import Head, HeadBatch, pool_per_input, register_head


@dataclass
class ClassificationOutput:
    logits: torch.Tensor  # [num_inputs, num_labels]
    loss: torch.Tensor | None = None


@register_head("classification")
class ClassificationHead(Head):
    """config: labels, the label names; an example's label is its answer_type."""

    def __init__(self, name, info, config):
        labels = list(config.get("labels") or [])
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"head {name!r}: config.labels must list at least 2 distinct labels, got {labels}")
        super().__init__(name, info, {**config, "labels": labels})
        self.labels = labels
        self.dense = nn.Linear(info.hidden_size, info.hidden_size)
        self.dropout = nn.Dropout(info.hidden_dropout_prob)
        self.classifier = nn.Linear(info.hidden_size, len(labels))

    def forward(self, batch: HeadBatch, labels: torch.Tensor | None = None) -> ClassificationOutput:
        pooled = torch.tanh(self.dense(self.dropout(batch.hidden[:, 0])))
        window_logits = self.classifier(self.dropout(pooled)).float()
        # A long input's windows vote by averaging their logits.
        out = ClassificationOutput(pool_per_input(window_logits, batch.example_index, batch.num_inputs))
        if labels is not None:
            out.loss = self.loss(out, labels)
        return out

    def loss(self, output: ClassificationOutput, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output.logits, labels, ignore_index=-100)

    def build_labels(self, examples: Sequence[Any], batch: HeadBatch, tokenizer=None) -> torch.Tensor:
        index = {label: i for i, label in enumerate(self.labels)}
        return torch.tensor([index.get(ex.answer_type, -100) for ex in examples], device=batch.hidden.device)

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
