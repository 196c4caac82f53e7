"""Worked examples: one input with the target's answer, what every other head says, and the spans
they extract marked in the context, as markdown a person reads next to the numbers."""
from __future__ import annotations

from typing import Any, Sequence

from model.arithmetic import derive, parse_whole_number
from training.analysis.findings import candidates_of, sentences_of
from training.analysis.spans import mark, span_head_top, tagged_spans
from model.example import Example
from training.analysis.roles import MULTISPAN, SPAN

LEGEND = ("Marks: `[[text]]^span` = the span head's top spans, `[[text]]^multi` = the multi-span head's spans, "
          "`[[text]]^answer` / `[[text]]^steer` = the answer and steering sentences.")


def describe(prediction: dict[str, Any]) -> str:
    """One line per head output, whatever its kind."""
    if "label" in prediction:
        probs = prediction.get("probabilities") or prediction.get("probs") or {}
        p = probs.get(prediction["label"]) if isinstance(probs, dict) else None
        return f"label **{prediction['label']}**" + (f" (p={p:.2f})" if p is not None else "")
    if "spans" in prediction:
        return "spans " + (", ".join(f"`{s['text']}`" for s in prediction["spans"]) or "(none)")
    if "alternatives" in prediction:
        alts = ", ".join(f"`{a['text']}`" for a in prediction["alternatives"][:3])
        return f"span `{prediction.get('text', '')}` (score {prediction.get('score', 0):.2f})" + (f"; next: {alts}" if alts else "")
    return f"`{prediction.get('text', '')}`"


def _outputs(prediction: dict[str, dict[str, Any]], target: str) -> list[str]:
    lines = [f"- target `{target}`: {describe(prediction[target])}"] if target in prediction else []
    lines += [f"- `{h}`: {describe(p)}" for h, p in prediction.items() if h != target]
    return lines


def _span_marks(prediction: dict[str, dict[str, Any]], k: int) -> list[tuple[int, int, str]]:
    marks = []
    if SPAN in prediction:
        marks += [(s["start"], s["end"], "span") for s in span_head_top(prediction[SPAN], k) if s.get("field") == "context"]
    if MULTISPAN in prediction:
        marks += [(s["start"], s["end"], "multi") for s in tagged_spans(prediction[MULTISPAN]) if s.get("field") == "context"]
    return marks


def numeric_example(i: int, ex: Example, prediction: dict[str, dict[str, Any]], target: str) -> str:
    args = ", ".join(f"`{a.text}`" for a in ex.argument_spans)
    answer = prediction.get(target, {}).get("text", "")
    number = parse_whole_number(answer)
    explanation = derive(number, candidates_of(prediction)) if number is not None else None
    said = ("the target is not a number" if explanation is None else
            explanation.expression if explanation.consistent else explanation.message)
    return "\n".join([
        f"### {i}. {ex.question}",
        f"Gold: **{ex.answer}** = {ex.operation}({args})",
        "",
        f"> {mark(ex.context, _span_marks(prediction, len(ex.argument_spans)))}",
        "",
        *_outputs(prediction, target),
        f"- explanation from the span heads: {said}",
        "",
    ])


def yesno_example(i: int, ex: Example, prediction: dict[str, dict[str, Any]], target: str) -> str:
    evidence = "; ".join(f"`{e.text}`" for e in ex.evidence_spans)
    return "\n".join([
        f"### {i}. {ex.question}",
        f"Gold: **{ex.answer}**; supporting facts: {evidence}",
        "",
        "> " + mark(ex.context, _span_marks(prediction, len(ex.evidence_spans))).replace("\n", "\n> "),
        "",
        *_outputs(prediction, target),
        "",
    ])


def qa_summary_example(i: int, ex: Example, prediction: dict[str, dict[str, Any]], target: str,
                       without_question: str, steered: str) -> str:
    sentences = sentences_of(ex)
    answer, steer = sentences[ex.extra["answer_sentence"]], sentences[ex.extra["steer_sentence"]]
    marks = [(answer.start, answer.end, "answer"), (steer.start, steer.end, "steer")]
    return "\n".join([
        f"### {i}. {ex.question}",
        f"Gold answer: **{ex.answer}**; steering question: *{ex.extra['steer_question']}*",
        "",
        f"> {mark(ex.context, marks)}",
        "",
        *_outputs(prediction, target),
        f"- `summary` without the question: `{without_question}`",
        f"- `summary` with the steering question: `{steered}`",
        "",
    ])


def section(title: str, blocks: Sequence[str]) -> str:
    return "\n".join([f"## {title}", "", LEGEND, "", *blocks])
