"""The paper's "harnessed for interpretability", as a response field that says how much it proves.

Only the non-target heads' top spans are read (a span head's best span, a tagging head's set;
never the alternatives), so an explanation rests on what the heads actually extracted:

    number target (a generative head wrote a number): an operation of DROP's (model/arithmetic.py)
        over every extracted number gives it: `24 - 17 = 7`, kind "arithmetic", consistent: true,
        but only when the checkpoint's chance rate (how often the same search explains a wrong
        number, measured at training time and stored in the manifest) is below the bound;
        otherwise kind "none" with the reason (no derivation, a rate too high, or not measured)
    label target (a classifier said yes / no / ...): the spans as evidence, each saying whether it
        lies in a passage sentence that mentions both entities the question compares
    span or free-text target (an extractive answer, a summary): no explanation
"""
from __future__ import annotations

import re

from model.arithmetic import Candidate, derive, parse_number, parse_whole_number, unique_spans
from model.heads import HEAD_KINDS
from service.pipeline.results import Evidence, Explanation, HeadOutput

DEFAULT_CHANCE_BOUND = 0.05
PASSAGE_FIELDS = ("context", "text")
SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")
# Runs of capitalised words name entities ("The Velvet Arrows"); a question's first word is
# capitalised only because it comes first.
NAME = re.compile(r"[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*")
QUESTION_WORDS = {"Was", "Were", "Is", "Are", "Did", "Does", "Do", "Has", "Have", "Had", "Can", "Which", "Who",
                  "What", "When", "Where", "How", "Whose"}


def top_spans(outputs: list[HeadOutput]) -> list[tuple[Evidence, bool]]:
    """Each non-empty top span once (what each head's kind calls its answer's spans), with whether
    it came from a set (what `count` counts)."""
    extracted = []
    for out in outputs:
        spans, from_set = HEAD_KINDS[out.kind].top_spans(out.output)
        extracted.append(([{**s, "head": out.head} for s in spans], from_set))
    return [(Evidence(head=s["head"], text=s["text"], start=s["start"], end=s["end"], field=s["field"], score=s["score"]),
             from_set)
            for s, from_set in unique_spans(extracted)]


def compared_entities(question: str, passage: str) -> list[str]:
    """The names in the question that the passage also names, in question order (at most two)."""
    names = []
    for match in NAME.finditer(question):
        words = match.group().split()
        if match.start() == 0 and words[0] in QUESTION_WORDS:
            words = words[1:]
        name = " ".join(words)
        if name and name in passage and name not in names:
            names.append(name)
    return names[:2]


def sentence_around(passage: str, start: int) -> str:
    for match in SENTENCE.finditer(passage):
        if match.start() <= start < match.end():
            return match.group()
    return ""


def _evidence(target: HeadOutput, spans: list[Evidence], question: str, passage: str) -> Explanation:
    label = target.output.get("label")
    entities = compared_entities(question, passage)
    if len(entities) < 2:
        judged = "the question names fewer than two entities the passage mentions, so no span is judged"
        return Explanation(kind="evidence", arguments=spans, compared_entities=entities or None,
                           message=f"spans the other heads point at for the label {label!r}; {judged}")
    for span in spans:
        if span.field in PASSAGE_FIELDS:
            sentence = sentence_around(passage, span.start)
            span.in_sentence_with_both_entities = all(e in sentence for e in entities)
    inside = sum(bool(s.in_sentence_with_both_entities) for s in spans)
    return Explanation(kind="evidence", arguments=spans, compared_entities=entities,
                       message=f"spans the other heads point at for the label {label!r}; {inside} of {len(spans)} lie in "
                               f"a sentence that mentions both {entities[0]} and {entities[1]}")


def explain(target: HeadOutput, non_target: list[HeadOutput], question: str = "", passage: str = "",
            chance: float | None = None, bound: float = DEFAULT_CHANCE_BOUND) -> Explanation | None:
    answers_with = HEAD_KINDS[target.kind].answers_with
    if answers_with in ("span", "spans"):
        return None
    found = top_spans(non_target)
    spans = [s for s, _ in found]
    if answers_with == "label":
        return _evidence(target, spans, question, passage)
    number = parse_whole_number(str(target.output.get("text", "")))
    if number is None:
        return None
    candidates = [Candidate(s.text, s.score, parse_number(s.text), in_set) for s, in_set in found]
    numeric = [s for s, c in zip(spans, candidates) if c.number is not None]
    strength = {"chance": chance, "chance_bound": bound}
    if not spans:
        return Explanation(kind="none", consistent=False, arguments=[], **strength,
                           message="the other heads returned no spans to derive the number from")
    derivation = derive(number, candidates)
    if not derivation.consistent:
        return Explanation(kind="none", consistent=False, arguments=numeric, **strength, message=derivation.message)
    if chance is None or chance >= bound:
        why = ("the checkpoint's chance rate was never measured (`python -m training chance --checkpoint ...`)"
               if chance is None else f"the same search explains a wrong answer on {chance:.0%} of held-out questions "
                                      f"(bound {bound:.0%})")
        return Explanation(kind="none", consistent=False, arguments=[spans[i] for i in derivation.arguments], **strength,
                           message=f"{derivation.expression} fits, but is not evidence: {why}")
    return Explanation(kind="arithmetic", consistent=True, operation=derivation.operation,
                       expression=derivation.expression, arguments=[spans[i] for i in derivation.arguments], **strength,
                       message=f"{derivation.operation} of every number the other heads extracted; the same search "
                               f"explains a wrong answer on {chance:.0%} of held-out questions")
