"""Multi-span extraction as BIO tagging over tokens (the "MSE" head), decoded to a list of spans
of whole words."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import nn

from model.encoding import SEG_SPECIAL
from model.heads.base import Head, HeadBatch, TextSpan, register_head
from model.heads.decoding import host_view
from model.heads.labels import token_span

O, B, I = 0, 1, 2
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
        return F.cross_entropy(output.logits.flatten(0, 1), labels.flatten(), ignore_index=-100)

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

    @torch.no_grad()
    def decode(self, output: TaggingOutput, batch: HeadBatch, tokenizer=None) -> list[dict[str, Any]]:
        best = output.logits.float().softmax(-1).max(-1)
        # One host copy per batch: every token's tag and its probability (decoding.py says why).
        tags, tag_p = best.indices.tolist(), best.values.tolist()
        view = host_view(batch)
        segs = view.segments
        min_score = float(self.config["min_score"])
        results: list[dict[str, Any]] = [{"spans": []} for _ in range(batch.num_inputs)]
        seen: list[set] = [set() for _ in range(batch.num_inputs)]
        for w, ex_i in enumerate(view.example_index):
            starts_word, ends_word = view.starts_word[w], view.ends_word[w]
            for s, e in _bio_runs(_word_tags(tags[w], starts_word, segs[w]), segs[w]):
                while e >= s and not ends_word[e]:
                    e -= 1  # a last word the window's edge cuts: the next window holds it whole
                if e < s:
                    continue
                span = view.char_span(w, s, e)
                # Overlapping windows tag the same words twice; keep each span once.
                key = (span["field"], span["start"], span["end"])
                if key in seen[ex_i]:
                    continue
                score = sum(tag_p[w][s:e + 1]) / (e - s + 1)  # the mean probability of the tags
                if score >= min_score:
                    seen[ex_i].add(key)
                    results[ex_i]["spans"].append({**span, "score": score})
        for r in results:
            r["spans"].sort(key=lambda s: (s["field"] != "question", s["start"]))
        return results


def _word_tags(tags: list[int], starts_word: list[bool], segments: list[int]) -> list[int]:
    """Each word tagged as its first sub-token is: the rest of a B or I word is I, of an O word O,
    so every run covers whole words ("Chaz", never its "z"). The tail of a word whose first
    sub-token is not in this window (cut by the window's edge) is O: another window holds it whole."""
    out, head = list(tags), O
    for t, tag in enumerate(tags):
        if starts_word[t]:
            head = tag
        elif t == 0 or segments[t] != segments[t - 1] or segments[t] == SEG_SPECIAL:
            head = O
        if not starts_word[t]:
            out[t] = O if head == O else I
    return out


def _bio_runs(tags: list[int], segments: list[int]) -> list[tuple[int, int]]:
    """(first, last) token of each B I* run; an I with no B before it starts a run too, and a run
    never crosses from one segment into another."""
    runs, start = [], None
    for t, tag in enumerate(tags):
        inside = segments[t] != SEG_SPECIAL
        if start is not None and (tag != I or not inside or segments[t] != segments[start]):
            runs.append((start, t - 1))
            start = None
        if inside and (tag == B or (tag == I and start is None)):
            start = t
    if start is not None:
        runs.append((start, len(tags) - 1))
    return runs
