"""The paper's "harnessed for interpretability", as a response field: when the answer is not itself
a span, the spans the non-target span heads return explain it.

    number target (a generative head wrote a number): try the numeric setting's operations over the
        numbers in those spans; `24 - 17 = 7` with its argument spans when one fits
        (consistent: true), the numbers that were tried when none does (consistent: false)
    label target (a classifier said yes / no / ...): the spans, as the evidence it rests on
    span or free-text target (an extractive answer, a summary): no explanation
"""
from __future__ import annotations

from service.schemas import Evidence, Explanation, HeadOutput
from model.arithmetic import Candidate, derive, parse_number, parse_whole_number

SPAN_KINDS = ("span", "tagging")


def spans_of(outputs: list[HeadOutput]) -> list[Evidence]:
    """Every non-empty span the span heads returned (a span head's best and its alternatives, a
    tagging head's set), each once, best-scored first within a head."""
    found, seen = [], set()
    for out in outputs:
        if out.kind == "span":
            spans = [out.output, *out.output.get("alternatives", [])]
        elif out.kind == "tagging":
            spans = out.output.get("spans", [])
        else:
            continue
        for s in spans:
            key = (s.get("field"), s.get("start"), s.get("end"))
            if not s.get("text") or key in seen:
                continue
            seen.add(key)
            found.append(Evidence(head=out.head, text=s["text"], start=s["start"], end=s["end"], field=s["field"],
                                  score=s["score"]))
    return found


def explain(target: HeadOutput, non_target: list[HeadOutput]) -> Explanation | None:
    if target.kind in SPAN_KINDS:
        return None
    spans = spans_of(non_target)
    if target.kind == "classification":
        return Explanation(kind="evidence", arguments=spans,
                           message=f"spans the other heads point at for the label {target.output.get('label')!r}")
    number = parse_whole_number(str(target.output.get("text", "")))
    if target.kind != "generative" or number is None:
        return None
    kinds = {o.head: o.kind for o in non_target}
    candidates = [Candidate(s.text, s.score, parse_number(s.text), from_set=kinds.get(s.head) == "tagging") for s in spans]
    derivation = derive(number, candidates)
    if derivation.consistent:
        return Explanation(kind="arithmetic", consistent=True, operation=derivation.operation,
                           expression=derivation.expression, arguments=[spans[i] for i in derivation.arguments],
                           message=f"{derivation.operation} of spans the other heads extracted")
    return Explanation(kind="arithmetic", consistent=False, arguments=[s for s, c in zip(spans, candidates) if c.number is not None],
                       message=derivation.message if spans else "the other heads returned no spans to derive the number from")
