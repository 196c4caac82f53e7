"""Degenerate baselines: predictors with no model that a metric must not mistake for a finding.

Each answers for the heads the analysis reads (span, multi-span, summary) with the same spans
whatever the head, so it stands in the report as one more control next to the single-task and
random-head ones. A finding is shown only when the multi-task model beats all of them:

    whole passage           one span over the whole context (wins any rule that rewards covering)
    every number            every number of the context (wins recall of arguments)
    copy the question       the question itself (wins any summary metric the question gives away)
    first sentence          the context's first sentence (wins where answers sit up front)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from model.arithmetic import NUMBER

SPAN_HEAD, MULTISPAN_HEAD, SUMMARY_HEAD = "span", "multispan", "summary"
HEADS = (SPAN_HEAD, MULTISPAN_HEAD, SUMMARY_HEAD)
SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")

SpanRule = Callable[[str, str], list[dict[str, Any]]]


def _span(start: int, end: int, text: str, field: str = "context") -> dict[str, Any]:
    return {"text": text[start:end], "start": start, "end": end, "field": field, "score": 1.0}


def whole_passage(question: str, context: str) -> list[dict[str, Any]]:
    return [_span(0, len(context), context)] if context.strip() else []


def every_number(question: str, context: str) -> list[dict[str, Any]]:
    return [_span(m.start(), m.end(), context) for m in NUMBER.finditer(context)]


def copy_question(question: str, context: str) -> list[dict[str, Any]]:
    return [_span(0, len(question), question, field="question")] if question.strip() else []


def first_sentence(question: str, context: str) -> list[dict[str, Any]]:
    match = SENTENCE_END.search(context)
    end = len(context) if match is None else match.end()
    return [_span(0, end, context)] if context[:end].strip() else []


@dataclass
class Baseline:
    """A control with the analysis' variant interface (`has`, `predict`) and no model."""

    name: str
    description: str
    spans_for: SpanRule

    def has(self, head: str) -> bool:
        return head in HEADS

    def predict(self, questions: Sequence[str], contexts: Sequence[str], heads: Sequence[str],
                batch_size: int = 32) -> list[dict[str, dict[str, Any]]]:
        unknown = [h for h in heads if h not in HEADS]
        if unknown:
            raise KeyError(f"baseline {self.name!r} answers only for heads {list(HEADS)}, not {unknown}")
        out = []
        for question, context in zip(questions, contexts):
            spans = self.spans_for(question, context)
            row: dict[str, dict[str, Any]] = {}
            if SPAN_HEAD in heads:
                best = spans[0] if spans else {"text": "", "start": 0, "end": 0, "field": "context", "score": 0.0}
                row[SPAN_HEAD] = {**best, "alternatives": spans[1:]}
            if MULTISPAN_HEAD in heads:
                row[MULTISPAN_HEAD] = {"spans": spans}
            if SUMMARY_HEAD in heads:
                row[SUMMARY_HEAD] = {"text": " ".join(s["text"] for s in spans)}
            out.append(row)
        return out


BASELINES = (
    Baseline("whole passage", "one span over the whole context; the summary is the context", whole_passage),
    Baseline("every number", "every number in the context as the spans; the summary lists them", every_number),
    Baseline("copy the question", "the question as the span; the summary is the question", copy_question),
    Baseline("first sentence", "the context's first sentence as the span and the summary", first_sentence),
)


def baselines() -> list[Baseline]:
    return list(BASELINES)
