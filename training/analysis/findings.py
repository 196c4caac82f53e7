"""The paper's three findings as per-example measurements, for any variant that has the heads.

Each `measure_*` returns, for one variant, {metric: values} with the example each value belongs
to, plus a group label per example (the operation, the question kind), so the report can give
means with bootstrap intervals overall and by group, and pair two variants example by example.
Metrics a variant cannot produce (a head it lacks) are simply absent.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from model.arithmetic import Candidate, derive, parse_number, parse_whole_number, unique_spans, wrong_answers
from model.example import Example, Span, span_supervision
from training.analysis.roles import MULTISPAN, SPAN, SUMMARY
from training.analysis.spans import score_spans, span_head_top, span_tokens, tagged_spans
from training.metrics import rouge_l


class Predictor(Protocol):
    """What the analysis compares: a variant (model heads) or a baseline (no model)."""

    name: str
    description: str

    def has(self, head: str) -> bool: ...

    def predict(self, questions: Sequence[str], contexts: Sequence[str],
                heads: Sequence[str]) -> list[dict[str, dict[str, Any]]]: ...

@dataclass
class Measured:
    values: dict[str, list[float]] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)  # one per example, in the examples' order
    # metric -> the example (index into `groups`) of each value; absent: value i is example i
    at: dict[str, list[int]] = field(default_factory=dict)

    def add(self, metric: str, value: float) -> None:
        """A value of the example last given a group."""
        self.values.setdefault(metric, []).append(float(value))
        self.at.setdefault(metric, []).append(len(self.groups) - 1)

    def by_example(self, metric: str, n: int) -> list[float]:
        """One value per example (NaN where this variant gave none): what pairs two variants."""
        out = [math.nan] * n
        values = self.values.get(metric, [])
        for i, value in zip(self.at.get(metric, range(len(values))), values):
            out[i] = value
        return out


@dataclass(frozen=True)
class FindingSpec:
    key: str
    title: str
    claim: str  # what the paper reports, i.e. what a shown finding means
    metrics: dict[str, str]  # metric -> what it measures
    headline: tuple[str, ...]  # the metrics on which the finding is judged against the controls
    group_by: str  # what the per-example group label is
    target_tasks: tuple[str, ...] = ()  # the tasks whose target metric the report gives beside the verdict
    judged: bool = True  # False: reported apart, with no verdict


LENGTHS = {
    "span_tokens": "mean length in word tokens of the span head's best span (a long span is not a precise one)",
    "multispan_tokens": "mean length in word tokens of the multi-span head's spans",
    "gold_tokens": "mean length in word tokens of the gold spans, for comparison",
    "multispan_count": "mean number of spans the multi-span head marks",
}

# Where the number is computed (the finding's claim) and where it stands in the passage: a max or
# a min is the span head's own target (routing sends it there, and the span head is taught it),
# so what the span heads do there is not non-target behaviour.
COMPUTED = ("difference", "sum", "count")
IN_PASSAGE = ("max", "min", "identity")

NUMERIC = FindingSpec(
    key="numeric",
    title="Numeric: non-target span heads extract the arguments of the computed number",
    claim="On questions whose number the generative head computes (a difference, a sum, a count), the span and "
          "multi-span heads mark the numbers the computation combines.",
    metrics={
        "span_top1_precision": "span head's best span points at an argument (token F1 >= 0.5)",
        "span_top1_exact": "span head's best span is exactly an argument",
        "span_topk_recall": "share of arguments the span head's top-k spans point at (k = arguments, at most "
                            "the spans the head returns)",
        "span_topk_recall_exact": "the same, counting exact matches only",
        "multispan_precision": "share of the multi-span head's spans that point at an argument",
        "multispan_recall": "share of arguments the multi-span head's spans point at",
        "multispan_f1": "harmonic mean of the two (marking every number gives high recall, low precision)",
        "multispan_f1_exact": "the same F1, counting exact matches only",
        "multispan_exact_set": "the multi-span head's spans point at the arguments one to one and at nothing else "
                               "(the headline: marking every number, which has F1 ~0.46, fails it)",
        **LENGTHS,
        "derives_target": "an operation over all the top spans' numbers gives the number head's answer",
        "derives_gold": "an operation over all the top spans' numbers gives the gold answer",
        "explains_wrong": "the same search 'explains' gold - 1 or gold + 1 (share of the two): its chance rate",
    },
    headline=("span_topk_recall", "multispan_exact_set"),
    group_by="operation",
    target_tasks=("drop_number",),
)

NUMERIC_IN_PASSAGE = FindingSpec(
    key="numeric_in_passage",
    title="Numeric, answer in the passage (max, min): reported apart, not judged",
    claim="Where the number stands in the passage the span head is the routed target and is taught the answer, "
          "so its spans there say nothing about non-target heads; the same measurements, for comparison.",
    metrics=NUMERIC.metrics,
    headline=NUMERIC.headline,
    group_by="operation",
    target_tasks=("drop_number",),
    judged=False,
)

YESNO = FindingSpec(
    key="yesno",
    title="Yes/no: the non-target span head finds the supporting evidence",
    claim="On questions the classifier answers yes or no, the span head points into the supporting facts.",
    metrics={
        "span_top1_hit": "span head's best span lies in a supporting fact (at least half its tokens inside one)",
        "span_top1_exact": "span head's best span is exactly a supporting fact",
        "span_topk_recall": "share of supporting facts that one of the span head's top-k spans lies in "
                            "(k = facts, at most the spans the head returns)",
        "multispan_precision": "share of the multi-span head's spans that lie in a supporting fact",
        "multispan_recall": "share of supporting facts that a multi-span span lies in",
        **LENGTHS,
    },
    headline=("span_top1_hit", "span_topk_recall"),
    group_by="question kind",
    target_tasks=("hotpot_yesno",),
)

QA_SUMMARY = FindingSpec(
    key="qa_summary",
    title="QA -> summary: the summariser writes query-based summaries",
    claim="Given a question, the summariser trained next to a QA head summarises the answer-bearing sentence, "
          "and a question about another sentence moves the summary there.",
    metrics={
        "unasked_rouge_with_question": "ROUGE-L of the summary (question given) against the answer sentence, on the "
                                       "words the question does not contain (a copy of the question scores 0)",
        "unasked_rouge_without_question": "the same for the summary written without the question",
        "unasked_rouge_gain": "the difference of the two (same context, same model)",
        "answer_in_summary_with_question": "the summary written with the question contains the answer (its words, "
                                           "in order)",
        "answer_in_summary_without_question": "the summary of the same passage written without a question contains it",
        "answer_containment_gain": "the difference of the two (same passage, same model)",
        "steer_answer_in_steered_summary": "the summary written with a second question about another sentence "
                                           "contains that question's answer",
        "steer_answer_in_summary": "the summary written with the original question contains the second answer",
        "steer_containment_gain": "the difference of the two: the second question moves the summary to its answer",
        "steer_gain_beyond_copy": "ROUGE-L to the steering sentence, steered summary minus original-question summary, "
                                  "minus the same move of a summary that copies the question",
        "rouge_answer_with_question": "ROUGE-L of the summary (question given) against the whole answer sentence",
        "rouge_gain": "that minus the same without the question (the question's own words count: a copy scores)",
        "follows_question": "the sentence the summary is closest to is the answer sentence",
        "steered": "with a question about another sentence, the summary is closest to that sentence, and was not "
                   "with the original question (a copy of the question passes this too)",
        "steer_gain": "ROUGE-L to the steering sentence: steered summary minus original-question summary",
        "summary_tokens": "mean length in word tokens of the summary (question given)",
        "gold_tokens": "mean length in word tokens of the answer sentence",
    },
    headline=("unasked_rouge_gain", "answer_containment_gain", "steer_containment_gain"),
    group_by="organisation kind",
    target_tasks=("squad", "summarize"),
)

FINDINGS = (NUMERIC, NUMERIC_IN_PASSAGE, YESNO, QA_SUMMARY)


def numeric_examples(examples: Sequence[Example]) -> list[Example]:
    """Every number question with its arguments, computed or not (the chance rate reads these)."""
    return [e for e in examples if e.answer_type == "number" and e.argument_spans]


def is_computed(example: Example) -> bool:
    """The operation says so where it is known; a reader's example without one is computed when
    its answer stands nowhere in the passage."""
    if example.operation in COMPUTED:
        return True
    if example.operation in IN_PASSAGE:
        return False
    return not span_supervision(example)


def computed_examples(examples: Sequence[Example]) -> list[Example]:
    return [e for e in numeric_examples(examples) if is_computed(e)]


def in_passage_examples(examples: Sequence[Example]) -> list[Example]:
    return [e for e in numeric_examples(examples) if not is_computed(e)]


def yesno_examples(examples: Sequence[Example]) -> list[Example]:
    return [e for e in examples if e.answer_type in ("yes", "no") and e.evidence_spans]


def steerable_examples(examples: Sequence[Example]) -> list[Example]:
    return [e for e in examples if e.task == "squad" and "steer_question" in e.extra and "sentence_spans" in e.extra]


def _present(variant: Predictor, heads: Sequence[str]) -> list[str]:
    return [h for h in heads if variant.has(h)]


def top_spans(prediction: dict[str, dict[str, Any]]) -> list[tuple[dict[str, Any], bool]]:
    """The span head's best span and the multi-span head's set, each once, with whether it came
    from the set: what an explanation may use (never the alternatives)."""
    extracted = []
    if SPAN in prediction:
        extracted.append((span_head_top(prediction[SPAN], 1), False))
    if MULTISPAN in prediction:
        extracted.append((tagged_spans(prediction[MULTISPAN]), True))
    return unique_spans(extracted)


def candidates_of(prediction: dict[str, dict[str, Any]]) -> list[Candidate]:
    return [Candidate(s["text"], float(s.get("score", 0.0)), parse_number(s["text"]), from_set)
            for s, from_set in top_spans(prediction)]


def explains(number: float | None, prediction: dict[str, dict[str, Any]]) -> bool:
    return number is not None and derive(number, candidates_of(prediction)).consistent


def explains_wrong(gold: float | None, prediction: dict[str, dict[str, Any]]) -> float | None:
    """Share of the near-miss wrong answers the search 'explains' from these spans (None without a
    numeric gold answer): one question's contribution to the chance rate."""
    if gold is None:
        return None
    wrong = wrong_answers(gold)
    return sum(explains(w, prediction) for w in wrong) / len(wrong)


def _mean_tokens(spans: Sequence[dict[str, Any] | Span]) -> float | None:
    return sum(span_tokens(s) for s in spans) / len(spans) if spans else None


def _add_lengths(measured: Measured, pred: dict[str, dict[str, Any]], gold: Sequence[Span]) -> None:
    if MULTISPAN in pred:
        measured.add("multispan_count", len(tagged_spans(pred[MULTISPAN])))
    for metric, spans in (("span_tokens", span_head_top(pred[SPAN], 1) if SPAN in pred else []),
                          ("multispan_tokens", tagged_spans(pred[MULTISPAN]) if MULTISPAN in pred else []),
                          ("gold_tokens", gold)):
        value = _mean_tokens(spans)
        if value is not None:
            measured.add(metric, value)


def measure_numeric(variant: Predictor, examples: Sequence[Example], target_numbers: Sequence[str | None],
                    span_k: int = 3) -> Measured:
    """`span_k`: how many spans the span head returns at most (the multi-task model's, for every
    variant, so that all are asked for the same number)."""
    heads = _present(variant, (SPAN, MULTISPAN))
    measured = Measured()
    if not heads:
        return measured
    preds = variant.predict([e.question for e in examples], [e.context for e in examples], heads)
    for ex, pred, target in zip(examples, preds, target_numbers):
        args = ex.argument_spans
        k = min(len(args), span_k)
        measured.groups.append(ex.operation or "?")
        if SPAN in pred:
            top1, topk = span_head_top(pred[SPAN], 1), span_head_top(pred[SPAN], k)
            measured.add("span_top1_precision", score_spans(top1, args).precision)
            measured.add("span_top1_exact", score_spans(top1, args, rule="exact").precision)
            measured.add("span_topk_recall", score_spans(topk, args, k=k).recall)
            measured.add("span_topk_recall_exact", score_spans(topk, args, rule="exact", k=k).recall)
        if MULTISPAN in pred:
            scores = score_spans(tagged_spans(pred[MULTISPAN]), args)
            measured.add("multispan_precision", scores.precision)
            measured.add("multispan_recall", scores.recall)
            measured.add("multispan_f1", scores.f1)
            measured.add("multispan_f1_exact", score_spans(tagged_spans(pred[MULTISPAN]), args, rule="exact").f1)
            measured.add("multispan_exact_set", scores.exact_set)
        _add_lengths(measured, pred, args)
        if target is not None:
            measured.add("derives_target", explains(parse_whole_number(target), pred))
        gold = parse_whole_number(ex.answer)
        if gold is not None:
            measured.add("derives_gold", explains(gold, pred))
            measured.add("explains_wrong", explains_wrong(gold, pred))
    return measured


def measure_yesno(variant: Predictor, examples: Sequence[Example], span_k: int = 3) -> Measured:
    heads = _present(variant, (SPAN, MULTISPAN))
    measured = Measured()
    if not heads:
        return measured
    preds = variant.predict([e.question for e in examples], [e.context for e in examples], heads)
    for ex, pred in zip(examples, preds):
        facts = ex.evidence_spans
        k = min(len(facts), span_k)
        measured.groups.append(str(ex.extra.get("kind", "?")))
        if SPAN in pred:
            top1 = span_head_top(pred[SPAN], 1)
            measured.add("span_top1_hit", score_spans(top1, facts, rule="lies_in").precision)
            measured.add("span_top1_exact", score_spans(top1, facts, rule="exact").precision)
            measured.add("span_topk_recall", score_spans(span_head_top(pred[SPAN], k), facts, rule="lies_in", k=k).recall)
        if MULTISPAN in pred:
            scores = score_spans(tagged_spans(pred[MULTISPAN]), facts, rule="lies_in")
            measured.add("multispan_precision", scores.precision)
            measured.add("multispan_recall", scores.recall)
        _add_lengths(measured, pred, facts)
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


def summaries(variant: Predictor, examples: Sequence[Example]) -> list[SummaryTriple]:
    contexts = [e.context for e in examples]
    asked = variant.predict([e.question for e in examples], contexts, [SUMMARY])
    plain = variant.predict([""] * len(examples), contexts, [SUMMARY])
    steered = variant.predict([e.extra["steer_question"] for e in examples], contexts, [SUMMARY])
    return [SummaryTriple(a[SUMMARY]["text"], p[SUMMARY]["text"], s[SUMMARY]["text"])
            for a, p, s in zip(asked, plain, steered)]


def words(text: str) -> list[str]:
    """ROUGE's tokens: lower-case runs of letters and digits."""
    return re.findall(r"[a-z0-9]+", text.lower())


def lcs_f1(prediction: Sequence[str], reference: Sequence[str]) -> float:
    """ROUGE-L F-measure of two token lists."""
    if not prediction or not reference:
        return 0.0
    row = [0] * (len(reference) + 1)
    for p in prediction:
        diagonal = 0
        for j, r in enumerate(reference, start=1):
            diagonal, row[j] = row[j], diagonal + 1 if p == r else max(row[j], row[j - 1])
    lcs = row[-1]
    return 0.0 if lcs == 0 else 2 * lcs / (len(prediction) + len(reference))


def unasked_rouge(summary: str, reference: str, question: str) -> float:
    """ROUGE-L of `summary` against `reference` with every word of `question` taken out of both:
    what the summary says about the sentence that the question could not have given it."""
    asked = set(words(question))
    return lcs_f1([w for w in words(summary) if w not in asked], [w for w in words(reference) if w not in asked])


def contains(summary: str, answer: str) -> bool:
    """The answer's words stand in the summary, in order and next to each other ("150 million
    dollars" in "its budget was 150 million dollars"); an empty answer is in nothing."""
    needle, hay = words(answer), words(summary)
    return bool(needle) and any(hay[i : i + len(needle)] == needle for i in range(len(hay) - len(needle) + 1))


def measure_qa_summary(variant: Predictor, examples: Sequence[Example]) -> Measured:
    measured = Measured()
    if not variant.has(SUMMARY):
        return measured
    for ex, triple in zip(examples, summaries(variant, examples)):
        sentences = sentences_of(ex)
        answer, steer = sentences[ex.extra["answer_sentence"]], sentences[ex.extra["steer_sentence"]]
        question, steer_question = ex.question, ex.extra["steer_question"]
        measured.groups.append(str(ex.extra.get("kind", "?")))
        with_q = unasked_rouge(triple.with_question, answer.text, question)
        without_q = unasked_rouge(triple.without_question, answer.text, question)
        measured.add("unasked_rouge_with_question", with_q)
        measured.add("unasked_rouge_without_question", without_q)
        measured.add("unasked_rouge_gain", with_q - without_q)
        has_with, has_without = contains(triple.with_question, ex.answer), contains(triple.without_question, ex.answer)
        measured.add("answer_in_summary_with_question", has_with)
        measured.add("answer_in_summary_without_question", has_without)
        measured.add("answer_containment_gain", has_with - has_without)
        if steer_answer := str(ex.extra.get("steer_answer", "")).strip():
            steered_has = contains(triple.steered, steer_answer)
            original_has = contains(triple.with_question, steer_answer)
            measured.add("steer_answer_in_steered_summary", steered_has)
            measured.add("steer_answer_in_summary", original_has)
            measured.add("steer_containment_gain", steered_has - original_has)
        steer_gain = rouge_l(triple.steered, steer.text) - rouge_l(triple.with_question, steer.text)
        copy_gain = rouge_l(steer_question, steer.text) - rouge_l(question, steer.text)
        measured.add("steer_gain_beyond_copy", steer_gain - copy_gain)
        full_with, full_without = rouge_l(triple.with_question, answer.text), rouge_l(triple.without_question, answer.text)
        measured.add("rouge_answer_with_question", full_with)
        measured.add("rouge_gain", full_with - full_without)
        followed = closest_sentence(triple.with_question, sentences)
        measured.add("follows_question", followed == ex.extra["answer_sentence"])
        # "Moves to": a summary that sits at the steering sentence whatever the question (a constant
        # summariser, or a lead-sentence one when the steer sentence leads) has not been steered.
        steer_at = ex.extra["steer_sentence"]
        measured.add("steered", closest_sentence(triple.steered, sentences) == steer_at and followed != steer_at)
        measured.add("steer_gain", steer_gain)
        measured.add("summary_tokens", len(words(triple.with_question)))
        measured.add("gold_tokens", len(words(answer.text)))
    return measured
