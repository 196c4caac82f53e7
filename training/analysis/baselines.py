"""Baselines: predictors with no model that a metric must not mistake for a finding.

Each answers for the heads the analysis reads (span, multi-span, summary) from one rule, so it
stands in every report as one more control next to the single-task and random-head ones. A rule
returns the spans ranked best first (the span head's answer and alternatives) and the set the
multi-span head marks; the summary is that set's text. A finding is shown only when the
multi-task model beats all of them (training/analysis/report.py).

Degenerate (they win a metric that rewards covering, listing, copying or leading):

    whole passage           one span over the whole context
    every number            every number of the context
    copy the question       the question itself
    first sentence          the context's first sentence

Heuristic (one-line lexical rules that beat the models of earlier runs; heuristics.py):

    question's sentences' numbers   numbers of the sentences most like the question
    last sentence's numbers         numbers of the last sentence that has any
    question's sentence             the sentence most like the question
    first year or country           the passage's first years and country names
    random span                     seeded random spans as long as the multi-task head's
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from model.arithmetic import NUMBER
from training.analysis import heuristics as H
from training.analysis.heuristics import Extraction
from training.analysis.roles import MULTISPAN, ROLES, SPAN, SUMMARY

SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")


Rule = Callable[[str, str], Extraction]
_span = H.span


def whole_passage(question: str, context: str) -> Extraction:
    return Extraction.same([_span(0, len(context), context)] if context.strip() else [])


def every_number(question: str, context: str) -> Extraction:
    return Extraction.same([_span(m.start(), m.end(), context) for m in NUMBER.finditer(context)])


def copy_question(question: str, context: str) -> Extraction:
    return Extraction.same([_span(0, len(question), question, field="question")] if question.strip() else [])


def first_sentence(question: str, context: str) -> Extraction:
    match = SENTENCE_END.search(context)
    end = len(context) if match is None else match.end()
    return Extraction.same([_span(0, end, context)] if context[:end].strip() else [])


@dataclass
class Baseline:
    """A control with the analysis' variant interface (`has`, `predict`) and no model."""

    name: str
    description: str
    rule: Rule

    def has(self, head: str) -> bool:
        return head in ROLES

    def extract(self, question: str, context: str, head: str) -> Extraction:
        """What the rule says for one head; the same for every head unless a subclass says otherwise."""
        return self.rule(question, context)

    def predict(self, questions: Sequence[str], contexts: Sequence[str], heads: Sequence[str],
                batch_size: int = 32) -> list[dict[str, dict[str, Any]]]:
        unknown = [h for h in heads if h not in ROLES]
        if unknown:
            raise KeyError(f"baseline {self.name!r} answers only for heads {list(ROLES)}, not {unknown}")
        out = []
        for question, context in zip(questions, contexts):
            row: dict[str, dict[str, Any]] = {}
            if SPAN in heads:
                ranked = self.extract(question, context, SPAN).ranked
                best = ranked[0] if ranked else {"text": "", "start": 0, "end": 0, "field": "context", "score": 0.0}
                row[SPAN] = {**best, "alternatives": ranked[1:]}
            if MULTISPAN in heads:
                row[MULTISPAN] = {"spans": self.extract(question, context, MULTISPAN).chosen}
            if SUMMARY in heads:
                row[SUMMARY] = {"text": " ".join(s["text"] for s in self.extract(question, context, SUMMARY).chosen)}
            out.append(row)
        return out


@dataclass
class RandomSpans(Baseline):
    """Spans at random places, as long (in words) as the multi-task model's: what a span of that
    length scores by chance. `lengths` and `counts` are per head (the multi-task span head's best
    span, multi-span spans and their number per question, the summary); a draw is seeded by the
    input itself, so it does not depend on the order or the batch."""

    lengths: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    seed: int = 0

    def has(self, head: str) -> bool:
        return head in self.lengths  # a head the multi-task model lacks has no length to match

    def extract(self, question: str, context: str, head: str) -> Extraction:
        spans = H.random_spans(context, self.lengths.get(head, 1), self.counts.get(head, 1),
                               seed=f"{self.seed}/{head}/{question}/{context}")
        return Extraction.same(spans)


RANDOM_SPAN = "random span"


def random_span_baseline(lengths: dict[str, int], counts: dict[str, int], seed: int = 0) -> RandomSpans:
    said = ", ".join(f"{h} {lengths[h]} words" + (f" x {counts[h]}" if counts.get(h, 1) != 1 else "") for h in lengths)
    return RandomSpans(RANDOM_SPAN, f"seeded random spans as long as the multi-task head's mean ({said or 'no head'})",
                       lambda q, c: Extraction([]), lengths=lengths, counts=counts, seed=seed)


BASELINES = (
    Baseline("whole passage", "one span over the whole context; the summary is the context", whole_passage),
    Baseline("every number", "every number in the context as the spans; the summary lists them", every_number),
    Baseline("copy the question", "the question as the span; the summary is the question", copy_question),
    Baseline("first sentence", "the context's first sentence as the span and the summary", first_sentence),
    Baseline("question's sentences' numbers", "the numbers of the sentences sharing most words with the question "
             "(ranked by sentence; the set: the two best sentences' numbers)", H.question_sentence_numbers),
    Baseline("last sentence's numbers", "the numbers of the last sentence that has any", H.last_sentence_numbers),
    Baseline("question's sentence", "the sentences ranked by the words they share with the question; the set and "
             "the summary: the best one", H.question_sentence),
    Baseline("first year or country", "the passage's years (1000-2099) and country names in order; the set: the "
             "first two", H.first_year_or_country),
)


def baselines() -> list[Baseline]:
    """The baselines that need nothing from the model; the random span needs its lengths
    (random_span_baseline)."""
    return list(BASELINES)
