"""Classification over a pooled representation of the input, e.g. yes / no / span, or the
answer type."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from model.encoding import SEG_CONTEXT, SEG_QUESTION, SEG_SPECIAL
from model.heads.base import Head, HeadBatch, TextSpan, register_head, supervised_cross_entropy
from model.heads.context_reads import ContextReads
from model.heads.paragraph_reads import (
    COMPARISONS, NUM_COMPARISON_FEATURES, ParagraphReads, comparison_features, compared_spans, layout, read_loss,
    read_targets,
)
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
#                           read one fact in each, where a mean over the passage blurs both away;
#   "compare_reads"         six vectors too, but read r is a read of the paragraph of the entity
#                           the question names r-th (or that the first paragraph names: a hop),
#                           and the classifier also gets what comparing them needs: the words
#                           they share, the words of the question they read, the gap between
#                           their sentences' numbers (model/heads/paragraph_reads.py).
# pooling mode -> how many hidden-size vectors it joins
_PARTS = {"mean": 1, "cls_question_context": 3, "cls": 1, "question_attention": 6, "compare_reads": 6}
_READS = ("question_attention", "compare_reads")
# The comparison's scalars tell their classes apart by a few tenths (the two reads' cosine: 0.93-0.99
# for one country, 0.61-0.81 for two), and Adam moves a weight by about the learning rate a step:
# read as they are, 150 steps could not grow a weight big enough to use that (same-country
# questions stayed at 0.67 with a feature that told them apart every time). Read 10x larger with
# weights initialised 10x smaller, the layer is the same layer with a 10x learning rate.
COMPARISON_GAIN = 10.0
POOLING_MODES = tuple(_PARTS)


@dataclass
class ClassificationOutput:
    logits: torch.Tensor  # [num_inputs, num_labels]
    loss: torch.Tensor | None = None
    # [W, 2, T] where the two context reads put their weight (pooling with reads only)
    read_weights: torch.Tensor | None = None


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
    compared: list[TextSpan] | None = Field(
        None, description="pooling compare_reads: what each of the two reads compared, the entity the "
                          "question names first, then the second (e.g. the two years)")


@register_head("classification")
class ClassificationHead(Head):
    """config: labels, the label names (an example's label is its answer_type); pooling, one of
    POOLING_MODES; supervise_reads (pooling with reads only, default false): train read r to put
    its weight on an example's compared value r, else inside its supporting sentence r
    (model/heads/paragraph_reads.py); comparison (compare_reads only): which words the compared
    reads' features count, one of paragraph_reads.COMPARISONS, default "all_words" ("named_words"
    for reads that nothing but the label teaches). A new head pools by the mask ("mean", see
    new_config); a checkpoint written before pooling was configurable has none in its config and
    was trained on [CLS], so a head built from such a config keeps "cls"."""

    output_model = ClassLabel
    answers_with = "label"

    @classmethod
    def map_spans(cls, output, fn):
        return {**output, "compared": [fn(s) for s in output["compared"]]} if output.get("compared") else output

    def __init__(self, name, info, config):
        try:
            self.check_config(config)
        except ValueError as err:
            raise ValueError(f"head {name!r}: {err}") from None
        labels = list(config["labels"])
        super().__init__(name, info, {"pooling": "cls", **config, "labels": labels})
        self.labels = labels
        self.pooling = self.config["pooling"]
        self.supervise_reads = bool(self.config.get("supervise_reads", False))
        self.comparison = self.config.get("comparison", "all_words")
        reader = {"question_attention": ContextReads, "compare_reads": ParagraphReads}.get(self.pooling)
        self.reader = reader(info.hidden_size) if reader else None
        self.dense = nn.Linear(_PARTS[self.pooling] * info.hidden_size, info.hidden_size)
        # a handful of scalars beside thousands of dimensions: their own layer, so its initial
        # weights are not scaled down by the vectors' fan-in; read at COMPARISON_GAIN
        self.compare = None
        if self.pooling == "compare_reads":
            self.compare = nn.Linear(NUM_COMPARISON_FEATURES, info.hidden_size)
            with torch.no_grad():
                self.compare.weight.div_(COMPARISON_GAIN)
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
        unknown = sorted(set(config) - {"labels", "pooling", "supervise_reads", "comparison"})
        if unknown:
            raise ValueError(f"config: unknown keys {unknown} for a classification head; "
                             "valid keys: ['labels', 'pooling', 'supervise_reads', 'comparison']")
        if "comparison" in config and pooling != "compare_reads":
            raise ValueError(f"config.comparison is read by pooling 'compare_reads' only; pooling is {pooling!r}: "
                             "remove comparison")
        if config.get("comparison", COMPARISONS[0]) not in COMPARISONS:
            raise ValueError(f"config.comparison: unknown value {config['comparison']!r}; valid: {list(COMPARISONS)}")
        if config.get("supervise_reads") not in (None, True, False):
            raise ValueError(f"config.supervise_reads must be true or false, got {config['supervise_reads']!r}")
        if config.get("supervise_reads") and pooling not in _READS:
            raise ValueError(f"config.supervise_reads needs a pooling with reads ({list(_READS)}); "
                             f"pooling is {pooling!r}")

    def pool(self, batch: HeadBatch) -> torch.Tensor:
        """One vector per input ([num_inputs, parts * H])."""
        return self._pool(batch)[0]

    def _pool(self, batch: HeadBatch) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(the pooled vectors, the reads' weights [W, 2, T] or None, the comparison features or
        None)."""
        hidden, n = batch.hidden, batch.num_inputs
        real = batch.attention_mask.bool() & (batch.segments != SEG_SPECIAL)
        if self.pooling == "mean":
            return masked_mean(hidden, real, batch.example_index, n), None, None
        cls = masked_mean(hidden[:, :1], torch.ones_like(real[:, :1]), batch.example_index, n)
        if self.pooling == "cls":
            return cls, None, None
        question = masked_mean(hidden, real & (batch.segments == SEG_QUESTION), batch.example_index, n)
        if self.reader is None:
            context = masked_mean(hidden, real & (batch.segments == SEG_CONTEXT), batch.example_index, n)
            return torch.cat([cls, question, context], dim=-1), None, None
        if self.pooling == "question_attention":
            reads, weights = self.reader(hidden, real & (batch.segments == SEG_CONTEXT), question,
                                         batch.example_index)
            first, second = reads.unbind(1)
            return torch.cat([cls, question, first, second, first * second, first - second], dim=-1), weights, None
        centre = masked_mean(hidden, real, batch.example_index, n)
        where = layout(batch)
        reads, weights, match = self.reader(batch, question, centre, where)
        features = comparison_features(batch, reads, weights, match, centre, where, self.comparison)
        # compared around the input's mean token, each dimension of unit size: the product's
        # dimensions sum to H times the reads' cosine, so a weight every dimension moves alike
        # learns "the same country" H times faster than one weight on the cosine would (with the
        # raw product and only the cosine as a scalar, same-country questions stayed at 0.67).
        # Detached: through the normalisation, its gradient into the backbone cost the span head
        # half its hotpot_span EM (0.38 -> 0.20); the supervision places the reads without it
        centred = F.normalize((reads - centre[:, None, :]).detach(), dim=-1) * hidden.shape[-1] ** 0.5
        first, second = centred.unbind(1)
        return torch.cat([cls, question, *reads.unbind(1), first * second, first - second], dim=-1), weights, features

    def forward(self, batch: HeadBatch, labels: torch.Tensor | dict[str, torch.Tensor] | None = None
                ) -> ClassificationOutput:
        vector, weights, features = self._pool(batch)
        dense = self.dense(self.dropout(vector))
        if self.compare is not None:
            dense = dense + self.compare(features * COMPARISON_GAIN)
        pooled = torch.tanh(dense)
        out = ClassificationOutput(self.classifier(self.dropout(pooled)).float(), read_weights=weights)
        if labels is not None:
            classes, targets = (labels["classes"], labels["reads"]) if isinstance(labels, dict) else (labels, None)
            out.loss = self.loss(out, classes)
            supervised = None if targets is None else read_loss(weights, targets, batch.example_index,
                                                                batch.num_inputs)
            if supervised is not None:
                out.loss = out.loss + supervised
        return out

    def loss(self, output: ClassificationOutput, labels: torch.Tensor) -> torch.Tensor:
        return supervised_cross_entropy(output.logits, labels)

    def build_labels(self, examples: Sequence[Any], batch: HeadBatch,
                     tokenizer=None) -> torch.Tensor | dict[str, torch.Tensor]:
        """Each input's class index (-100: not one of the labels); with supervise_reads, a dict of
        those ("classes") and the tokens each read should land on ("reads", paragraph_reads.read_targets)."""
        index = {label: i for i, label in enumerate(self.labels)}
        classes = torch.tensor([index.get(label_of(ex, self.labels), -100) for ex in examples],
                               device=batch.hidden.device)
        if not self.supervise_reads:
            return classes
        return {"classes": classes, "reads": read_targets(examples, batch)}

    def prepare(self, batch: HeadBatch) -> None:
        if self.pooling == "compare_reads":
            layout(batch)  # the passages' paragraphs, sentences and words the reads compare

    @torch.no_grad()
    def decode(self, output: ClassificationOutput, batch: HeadBatch, tokenizer=None) -> list[dict[str, Any]]:
        probs = output.logits.float().softmax(-1).tolist()
        decoded = [
            {
                "label": self.labels[max(range(len(p)), key=p.__getitem__)],
                "score": max(p),
                "probabilities": dict(zip(self.labels, p)),
            }
            for p in probs
        ]
        if self.pooling == "compare_reads" and output.read_weights is not None:
            for out, compared in zip(decoded, compared_spans(output.read_weights, batch)):
                out["compared"] = compared
        return decoded


def label_of(example: Any, labels: Sequence[str]) -> str:
    """An example's class: its answer type, except that a number answer standing verbatim in the
    passage (a max / min / the value of one fact) is a "span" for an answer-type head that has
    both labels, as GenBERT labels DROP: the span head extracts it, the decoder need not compute."""
    if example.answer_type == "number" and {"number", "span"} <= set(labels) and number_in_passage(example):
        return "span"
    return example.answer_type

