"""How well a set of predicted spans covers a set of reference spans (arguments, evidence).

Spans are compared as sets of word tokens (each token named by its character offsets in its
field), so that precision and recall both count and a longer span cannot win by covering more:

    points at   token F1 >= 0.5 between the predicted span and the reference: "24 points" points at
                the argument "24" (F1 0.67); the whole passage does not (F1 ~0.03); neither does a
                span that grazes the reference with a cut-off piece of one of its words.
    lies in     at least half of the predicted span's tokens are inside the reference: the claim of
                an evidence finding ("the span head's answer comes from a supporting fact"), which
                a short span inside a long fact makes and a span over several sentences does not.
    exact       the same tokens: reported beside the looser rules.

(The rule these replace, "the shared characters exceed half of the shorter span", let one span
over the whole passage hit every argument and every supporting fact.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Literal, Sequence

from model.example import Span
from model.words import WORD

HIT_THRESHOLD = 0.5

Rule = Literal["points_at", "lies_in", "exact"]


def tokens(start: int, end: int, text: str) -> frozenset[tuple[int, int]]:
    """The word tokens of `text` (which stands at `start` of its field) as field offsets."""
    return frozenset((start + m.start(), start + m.end()) for m in WORD.finditer(text))


def _tokens_of(span: dict[str, Any] | Span) -> frozenset[tuple[int, int]]:
    if isinstance(span, Span):
        return tokens(span.start, span.end, span.text)
    return tokens(span["start"], span["end"], span.get("text", ""))


def _field(span: dict[str, Any] | Span) -> str:
    return span.field if isinstance(span, Span) else span.get("field", "context")


def token_f1(predicted: dict[str, Any], reference: Span) -> float:
    if _field(predicted) != reference.field:
        return 0.0
    p, r = _tokens_of(predicted), _tokens_of(reference)
    shared = len(p & r)
    return 2 * shared / (len(p) + len(r)) if shared else 0.0


def points_at(predicted: dict[str, Any], reference: Span) -> bool:
    return token_f1(predicted, reference) >= HIT_THRESHOLD


def lies_in(predicted: dict[str, Any], reference: Span) -> bool:
    if _field(predicted) != reference.field:
        return False
    p = _tokens_of(predicted)
    return bool(p) and len(p & _tokens_of(reference)) >= HIT_THRESHOLD * len(p)


def exact(predicted: dict[str, Any], reference: Span) -> bool:
    return _field(predicted) == reference.field and _tokens_of(predicted) == _tokens_of(reference)


RULES: dict[str, Callable[[dict[str, Any], Span], bool]] = {"points_at": points_at, "lies_in": lies_in, "exact": exact}


@dataclass(frozen=True)
class SpanScores:
    precision: float  # share of predicted spans that hit some reference (0 with no prediction)
    recall: float  # share of references some predicted span hits (of at most `k` references, see score_spans)
    exact_set: float  # 1.0 when the predicted spans hit the references one to one, nothing else

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "exact_set": self.exact_set}


def score_spans(predicted: Sequence[dict[str, Any]], references: Sequence[Span], rule: Rule = "points_at",
                k: int | None = None) -> SpanScores:
    """Precision and recall of `predicted` against `references` under `rule`. With `k` (the number
    of spans the predictor was allowed), recall counts found references out of min(k, references):
    a head that returns 3 spans is not marked down for missing a fourth argument."""
    if not references:
        raise ValueError("score_spans needs at least one reference span")
    if rule not in RULES:
        raise ValueError(f"unknown span rule {rule!r}; valid rules: {sorted(RULES)}")
    hit = RULES[rule]
    predicted = [p for p in predicted if _tokens_of(p)]
    hits = [any(hit(p, r) for r in references) for p in predicted]
    found = [any(hit(p, r) for p in predicted) for r in references]
    precision = sum(hits) / len(predicted) if predicted else 0.0
    reachable = len(references) if k is None else max(1, min(k, len(references)))
    recall = min(1.0, sum(found) / reachable)
    exact_set = float(len(predicted) == len(references) and all(found)
                      and all(sum(hit(p, r) for r in references) == 1 for p in predicted))
    return SpanScores(precision, recall, exact_set)


def span_tokens(span: dict[str, Any] | Span) -> int:
    """A span's length in word tokens: what the finding tables report next to the gold length."""
    return len(_tokens_of(span))


def span_head_top(prediction: dict[str, Any], k: int) -> list[dict[str, Any]]:
    """The k best non-overlapping spans of a span head's prediction (best first)."""
    ranked = [prediction, *prediction.get("alternatives", [])]
    return [s for s in ranked if s.get("end", 0) > s.get("start", 0)][:k]


def span_head_capacity(config: dict[str, Any]) -> int:
    """How many spans a span head returns at most (its best and the alternatives)."""
    return int(config.get("top_k", 3))


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
