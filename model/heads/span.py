"""Span extraction: start/end logits over the question and the context (GenBERT reads both),
decoded over whole words."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from model.example import span_supervision
from model.heads.base import Head, HeadBatch, TextSpan, register_head, supervised_cross_entropy
from model.heads.decoding import host_view, decode_spans
from model.heads.labels import number_in_passage, token_span
from model.encoding import SEG_SPECIAL


@dataclass
class SpanOutput:
    start_logits: torch.Tensor  # [W, T]
    end_logits: torch.Tensor  # [W, T]
    loss: torch.Tensor | None = None


class SpanAnswer(TextSpan):
    """The best span, and the next best that do not overlap it (config top_k - 1 of them)."""

    alternatives: list[TextSpan]


@register_head("span")
class SpanHead(Head):
    """config: max_answer_tokens (30), top_k alternatives returned by decode (3)."""

    output_model = SpanAnswer
    answers_with = "span"

    @classmethod
    def top_spans(cls, output):
        return [output], False

    @classmethod
    def map_spans(cls, output, fn):
        return {**fn(output), "alternatives": [fn(a) for a in output.get("alternatives", [])]}

    def __init__(self, name, info, config):
        super().__init__(name, info, {"max_answer_tokens": 30, "top_k": 3, **config})
        self.dropout = nn.Dropout(info.hidden_dropout_prob)
        self.qa_outputs = nn.Linear(info.hidden_size, 2)

    def forward(self, batch: HeadBatch, labels: dict[str, torch.Tensor] | None = None) -> SpanOutput:
        logits = self.qa_outputs(self.dropout(batch.hidden)).float()
        start, end = logits.unbind(-1)
        # Special tokens and padding can't be answers, except CLS (index 0), the "not in this
        # window" answer of windows that don't hold the span.
        invalid = batch.segments == SEG_SPECIAL
        invalid[:, 0] = False
        start = start.masked_fill(invalid, -1e4)
        end = end.masked_fill(invalid, -1e4)
        out = SpanOutput(start, end)
        if labels is not None:
            out.loss = self.loss(out, labels)
        return out

    def loss(self, output: SpanOutput, labels: dict[str, torch.Tensor]) -> torch.Tensor:
        # computed numbers (a count, a sum) give the span head nothing to extract: those windows add nothing
        return (supervised_cross_entropy(output.start_logits, labels["start"])
                + supervised_cross_entropy(output.end_logits, labels["end"])) / 2

    def build_labels(self, examples: Sequence[Any], batch: HeadBatch, tokenizer=None) -> dict[str, torch.Tensor]:
        starts, ends = [], []
        for w, ex_i in enumerate(batch.example_index.tolist()):
            ex = examples[ex_i]
            # A computed number that happens to stand in the passage too ("3" of a count) is no
            # span to extract.
            spans = span_supervision(ex) if ex.answer_type != "number" or number_in_passage(ex) else []
            if not spans:
                starts.append(-100), ends.append(-100)
                continue
            # the first occurrence this window holds; a window that holds none points at [CLS]
            found = next((t for t in (token_span(batch, w, sp) for sp in spans) if t is not None), None)
            s, e = found if found is not None else (0, 0)
            starts.append(s), ends.append(e)
        device = batch.hidden.device
        return {"start": torch.tensor(starts, device=device), "end": torch.tensor(ends, device=device)}

    def prepare(self, batch: HeadBatch) -> None:
        host_view(batch)  # the tokens' fields, offsets and word edges decoding reads

    @torch.no_grad()
    def decode(self, output: SpanOutput, batch: HeadBatch, tokenizer=None) -> list[dict[str, Any]]:
        # Every window's spans scored and ranked on the device at once (decoding.py).
        return decode_spans(batch, output.start_logits, output.end_logits, int(self.config["max_answer_tokens"]),
                            int(self.config["top_k"]))
