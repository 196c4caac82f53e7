"""Span extraction: start/end logits over the question and the context (GenBERT reads both),
decoded over whole words."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from model.example import span_supervision
from model.heads.base import Head, HeadBatch, TextSpan, register_head
from model.heads.labels import number_in_passage, token_span, word_edges
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
        return (
            F.cross_entropy(output.start_logits, labels["start"], ignore_index=-100)
            + F.cross_entropy(output.end_logits, labels["end"], ignore_index=-100)
        ) / 2

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

    @torch.no_grad()
    def decode(self, output: SpanOutput, batch: HeadBatch, tokenizer=None) -> list[dict[str, Any]]:
        max_len, top_k = int(self.config["max_answer_tokens"]), int(self.config["top_k"])
        start_p = output.start_logits.float().softmax(-1)
        end_p = output.end_logits.float().softmax(-1)
        results = []
        for i in range(batch.num_inputs):
            candidates = []
            for w in batch.windows_of(i):
                candidates.extend(self._window_candidates(batch, w, start_p[w], end_p[w], max_len, top_k))
            candidates.sort(key=lambda c: -c["score"])
            chosen: list[dict[str, Any]] = []
            for c in candidates:
                if all(c["field"] != o["field"] or c["end"] <= o["start"] or c["start"] >= o["end"] for o in chosen):
                    chosen.append(c)
                if len(chosen) == top_k:
                    break
            if not chosen:
                results.append({"text": "", "start": 0, "end": 0, "field": "context", "score": 0.0, "alternatives": []})
                continue
            results.append({**chosen[0], "alternatives": chosen[1:]})
        return results

    @staticmethod
    def _window_candidates(batch, w, start_p, end_p, max_len, k) -> list[dict[str, Any]]:
        seg = batch.segments[w]
        scores = start_p[:, None] * end_p[None, :]
        t = scores.shape[0]
        idx = torch.arange(t, device=scores.device)
        valid = (idx[None, :] >= idx[:, None]) & (idx[None, :] - idx[:, None] < max_len)
        valid &= (seg[:, None] == seg[None, :]) & (seg[:, None] != SEG_SPECIAL)
        # A span a person reads starts on a word's first sub-token and ends on a word's last one.
        starts_word, ends_word = word_edges(batch, w)
        valid &= starts_word[:, None] & ends_word[None, :]
        scores = scores.masked_fill(~valid, -1.0)
        flat = scores.flatten()
        # The best spans mostly overlap the best one ("Omar", "Omar Roberts in"); look deep enough
        # to find k that don't.
        top = torch.topk(flat, k=min(50 * k, flat.numel()))
        out = []
        for score, pos in zip(top.values.tolist(), top.indices.tolist()):
            if score < 0:
                break
            s, e = divmod(pos, t)
            out.append({**batch.char_span(w, s, e), "score": float(score)})
        return out
