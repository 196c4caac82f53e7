"""The paper's three findings as per-example measurements, for any variant that has the heads.

Each `measure_*` returns, for one variant, {metric: one value per example} plus a group label per
example (the operation, the question kind), so the report can give means with bootstrap intervals
overall and by group. Metrics a variant cannot produce (a head it lacks) are simply absent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from model.arithmetic import Candidate, derive, parse_number, parse_whole_number
from training.analysis.spans import score_spans, span_head_top, tagged_spans
from training.analysis.variants import Variant
from model.example import Example, Span
from training.metrics import rouge_l

SPAN_HEAD, MULTISPAN_HEAD, SUMMARY_HEAD = "span", "multispan", "summary"


@dataclass
class Measured:
    values: dict[str, list[float]] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)

    def add(self, metric: str, value: float) -> None:
        self.values.setdefault(metric, []).append(float(value))


@dataclass(frozen=True)
class FindingSpec:
    key: str
    title: str
    claim: str  # what the paper reports, i.e. what a shown finding means
    metrics: dict[str, str]  # metric -> what it measures
    headline: tuple[str, ...]  # the metrics on which the finding is judged against the controls
    group_by: str  # what the per-example group label is


NUMERIC = FindingSpec(
    key="numeric",
    title="Numeric: non-target span heads extract the arguments of the computed number",
    claim="On questions the generative head answers with a number, the span and multi-span heads mark the "
          "numbers the computation combines.",
    metrics={
        "span_top1_precision": "span head's best span points at an argument",
        "span_topk_recall": "share of arguments among the span head's top-k spans (k = number of arguments)",
        "multispan_precision": "share of the multi-span head's spans that point at an argument",
        "multispan_recall": "share of arguments the multi-span head marks",
        "multispan_f1": "harmonic mean of the two (a head that marks every number has high recall, low F1)",
        "multispan_exact_set": "the multi-span head marks exactly the arguments",
        "derives_target": "an operation of the setting over the extracted spans' numbers gives the number head's answer",
    },
    headline=("span_topk_recall", "multispan_f1"),
    group_by="operation",
)

YESNO = FindingSpec(
    key="yesno",
    title="Yes/no: the non-target span head finds the supporting evidence",
    claim="On questions the classifier answers yes or no, the span head points into the supporting facts.",
    metrics={
        "span_top1_hit": "span head's best span lies in a supporting fact",
        "span_topk_recall": "share of supporting facts hit by the span head's top-k spans (k = number of facts)",
        "multispan_recall": "share of supporting facts hit by the multi-span head's spans",
    },
    headline=("span_top1_hit", "span_topk_recall"),
    group_by="question kind",
)

QA_SUMMARY = FindingSpec(
    key="qa_summary",
    title="QA -> summary: the summariser writes query-based summaries",
    claim="Given a question, the summariser trained next to a QA head summarises the answer-bearing sentence, "
          "and a question about another sentence moves the summary there.",
    metrics={
        "rouge_answer_with_question": "ROUGE-L of the summary (question given) against the answer sentence",
        "rouge_answer_without_question": "ROUGE-L of the summary (no question) against the answer sentence",
        "rouge_gain": "the difference of the two (same context, same model)",
        "follows_question": "the sentence the summary is closest to is the answer sentence",
        "steered": "with a question about another sentence, the summary moves there: closest to that sentence, "
                   "and not with the original question",
        "steer_gain": "ROUGE-L to the steering sentence: steered summary minus original-question summary",
    },
    headline=("rouge_gain", "steered"),
    group_by="organisation kind",
)

FINDINGS = (NUMERIC, YESNO, QA_SUMMARY)


def numeric_examples(examples: Sequence[Example]) -> list[Example]:
    return [e for e in examples if e.answer_type == "number" and e.argument_spans]


def yesno_examples(examples: Sequence[Example]) -> list[Example]:
    return [e for e in examples if e.answer_type in ("yes", "no") and e.evidence_spans]


def steerable_examples(examples: Sequence[Example]) -> list[Example]:
    return [e for e in examples if e.task == "squad" and "steer_question" in e.extra and "sentence_spans" in e.extra]


def _present(variant: Variant, heads: Sequence[str]) -> list[str]:
    return [h for h in heads if variant.has(h)]


def candidates_of(prediction: dict[str, dict[str, Any]]) -> list[Candidate]:
    """Every span the span heads returned, once each, with its number: what a derivation may use."""
    seen, out = set(), []
    spans = [(s, False) for s in span_head_top(prediction[SPAN_HEAD], 10)] if SPAN_HEAD in prediction else []
    spans += [(s, True) for s in tagged_spans(prediction[MULTISPAN_HEAD])] if MULTISPAN_HEAD in prediction else []
    for span, from_set in spans:
        key = (span.get("field"), span["start"], span["end"])
        if key in seen:
            continue
        seen.add(key)
        out.append(Candidate(span["text"], float(span.get("score", 0.0)), parse_number(span["text"]), from_set))
    return out


def measure_numeric(variant: Variant, examples: Sequence[Example], target_numbers: Sequence[str | None]) -> Measured:
    heads = _present(variant, (SPAN_HEAD, MULTISPAN_HEAD))
    measured = Measured()
    if not heads:
        return measured
    preds = variant.predict([e.question for e in examples], [e.context for e in examples], heads)
    for ex, pred, target in zip(examples, preds, target_numbers):
        args = ex.argument_spans
        measured.groups.append(ex.operation or "?")
        if SPAN_HEAD in pred:
            measured.add("span_top1_precision", score_spans(span_head_top(pred[SPAN_HEAD], 1), args).precision)
            measured.add("span_topk_recall", score_spans(span_head_top(pred[SPAN_HEAD], len(args)), args).recall)
        if MULTISPAN_HEAD in pred:
            scores = score_spans(tagged_spans(pred[MULTISPAN_HEAD]), args)
            measured.add("multispan_precision", scores.precision)
            measured.add("multispan_recall", scores.recall)
            measured.add("multispan_f1", scores.f1)
            measured.add("multispan_exact_set", scores.exact_set)
        number = parse_whole_number(target) if target is not None else None
        if target is not None:
            measured.add("derives_target", number is not None and derive(number, candidates_of(pred)).consistent)
    return measured


def measure_yesno(variant: Variant, examples: Sequence[Example]) -> Measured:
    heads = _present(variant, (SPAN_HEAD, MULTISPAN_HEAD))
    measured = Measured()
    if not heads:
        return measured
    preds = variant.predict([e.question for e in examples], [e.context for e in examples], heads)
    for ex, pred in zip(examples, preds):
        evidence = ex.evidence_spans
        measured.groups.append(str(ex.extra.get("kind", "?")))
        if SPAN_HEAD in pred:
            measured.add("span_top1_hit", score_spans(span_head_top(pred[SPAN_HEAD], 1), evidence).precision)
            measured.add("span_topk_recall", score_spans(span_head_top(pred[SPAN_HEAD], len(evidence)), evidence).recall)
        if MULTISPAN_HEAD in pred:
            measured.add("multispan_recall", score_spans(tagged_spans(pred[MULTISPAN_HEAD]), evidence).recall)
    return measured


def sentences_of(example: Example) -> list[Span]:
    return [Span(a, b, example.context[a:b]) for a, b in example.extra["sentence_spans"]]


def closest_sentence(summary: str, sentences: Sequence[Span]) -> int:
    """The index of the sentence the summary overlaps most (ROUGE-L); -1 when no sentence stands
    out: an empty summary, one that overlaps no sentence, or a tie for the best. (Taking the first
    of a tie credited a random head's gibberish, which overlaps nothing, with "following" sentence
    0 whenever the answer happened to be there.)"""
    if not summary.strip():
        return -1
    scores = [rouge_l(summary, s.text) for s in sentences]
    best = max(scores, default=0.0)
    if best <= 0.0 or scores.count(best) > 1:
        return -1
    return scores.index(best)


@dataclass
class SummaryTriple:
    with_question: str
    without_question: str
    steered: str


def summaries(variant: Variant, examples: Sequence[Example]) -> list[SummaryTriple]:
    contexts = [e.context for e in examples]
    asked = variant.predict([e.question for e in examples], contexts, [SUMMARY_HEAD])
    plain = variant.predict([""] * len(examples), contexts, [SUMMARY_HEAD])
    steered = variant.predict([e.extra["steer_question"] for e in examples], contexts, [SUMMARY_HEAD])
    return [SummaryTriple(a[SUMMARY_HEAD]["text"], p[SUMMARY_HEAD]["text"], s[SUMMARY_HEAD]["text"])
            for a, p, s in zip(asked, plain, steered)]


def measure_qa_summary(variant: Variant, examples: Sequence[Example]) -> Measured:
    measured = Measured()
    if not variant.has(SUMMARY_HEAD):
        return measured
    for ex, triple in zip(examples, summaries(variant, examples)):
        sentences = sentences_of(ex)
        answer, steer = sentences[ex.extra["answer_sentence"]], sentences[ex.extra["steer_sentence"]]
        measured.groups.append(str(ex.extra.get("kind", "?")))
        with_q, without_q = rouge_l(triple.with_question, answer.text), rouge_l(triple.without_question, answer.text)
        measured.add("rouge_answer_with_question", with_q)
        measured.add("rouge_answer_without_question", without_q)
        measured.add("rouge_gain", with_q - without_q)
        followed = closest_sentence(triple.with_question, sentences)
        measured.add("follows_question", followed == ex.extra["answer_sentence"])
        # "Moves to": a summary that sits at the steering sentence whatever the question (a constant
        # summariser, or a lead-sentence one when the steer sentence leads) has not been steered.
        steer_at = ex.extra["steer_sentence"]
        measured.add("steered", closest_sentence(triple.steered, sentences) == steer_at and followed != steer_at)
        measured.add("steer_gain", rouge_l(triple.steered, steer.text) - rouge_l(triple.with_question, steer.text))
    return measured
