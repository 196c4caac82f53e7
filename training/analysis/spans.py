"""How well a set of predicted spans covers a set of reference spans (arguments, evidence).

A predicted span "points at" a reference when, in the same field, they share more than half of the
shorter one's characters: a head that marks "24 points" for the argument "24", or a few words of an
evidence sentence, has found it; one that grazes its edge has not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from model.example import Span


@dataclass(frozen=True)
class SpanScores:
    precision: float  # share of predicted spans that point at some reference (0 with no prediction)
    recall: float  # share of references some predicted span points at
    exact_set: float  # 1.0 when every reference is found, every prediction is one, one to one

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "exact_set": self.exact_set}


def overlaps(predicted: dict[str, Any], reference: Span) -> bool:
    """Same field, and the shared characters are more than half of the shorter span: touching a
    reference by a character or two is not pointing at it."""
    if predicted.get("field", "context") != reference.field:
        return False
    shared = min(predicted["end"], reference.end) - max(predicted["start"], reference.start)
    shorter = min(predicted["end"] - predicted["start"], reference.end - reference.start)
    return shared > 0 and 2 * shared > shorter


def score_spans(predicted: Sequence[dict[str, Any]], references: Sequence[Span]) -> SpanScores:
    predicted = [p for p in predicted if p.get("end", 0) > p.get("start", 0)]
    if not references:
        raise ValueError("score_spans needs at least one reference span")
    hits = [any(overlaps(p, r) for r in references) for p in predicted]
    found = [any(overlaps(p, r) for p in predicted) for r in references]
    precision = sum(hits) / len(predicted) if predicted else 0.0
    recall = sum(found) / len(references)
    one_to_one = all(sum(overlaps(p, r) for r in references) == 1 for p in predicted)
    exact = float(len(predicted) == len(references) and all(found) and one_to_one)
    return SpanScores(precision, recall, exact)


def span_head_top(prediction: dict[str, Any], k: int) -> list[dict[str, Any]]:
    """The k best non-overlapping spans of a span head's prediction (best first)."""
    ranked = [prediction, *prediction.get("alternatives", [])]
    return [s for s in ranked if s.get("end", 0) > s.get("start", 0)][:k]


def tagged_spans(prediction: dict[str, Any]) -> list[dict[str, Any]]:
    return list(prediction.get("spans", []))


def mark(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """`text` with each (start, end, label) span wrapped as [[...]]^label, for worked examples.
    Overlapping spans are merged into the first one's mark."""
    out, cursor = [], 0
    for start, end, label in sorted(spans):
        if start < cursor:
            continue
        out += [text[cursor:start], "[[", text[start:end], f"]]^{label}"]
        cursor = end
    out.append(text[cursor:])
    return "".join(out)
