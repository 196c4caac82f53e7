"""The arithmetic a number decoder writes instead of the number: "24 - 17" rather than "7".

GenBERT writes a computed number digit by digit, so the decoder must learn subtraction and carrying
from its training data; on a CPU budget of a few hundred number questions it does not (the quick
checkpoint answered "1" to "24 points ... 17 points, how many more?"). A pointer-generator decoder
that writes the expression instead only has to copy the right numbers of the passage and choose
the sign, and the head computes the value (as NeRd, Chen et al. 2020, writes programs over the
passage). The expression stays in the answer, so a reader sees which numbers were combined.

The language is deliberately small: numbers joined by + and -, at most four terms. A text outside
it (an unfinished expression, a name) is not evaluated, and the head returns what it wrote. A
difference of two numbers is read larger minus smaller: a number question asks how many more, how
many years between, never for a negative count, and which of two passage numbers is larger is
arithmetic the head does exactly, where a decoder trained for minutes orders them at chance (the
quick checkpoint wrote "17 - 24" for the Bears' 24 and the Lions' 17).
"""
from __future__ import annotations

import re
from typing import Any

from model.arithmetic import NUMBER, fmt, parse_whole_number

MAX_TERMS = 4
# "1, 575" / "12. 5": the WordPiece decoder puts a space after a comma or point inside a number
_NUMBER_GAP = re.compile(r"(?<=\d)([,.]) (?=\d)")
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_EXPRESSION = re.compile(rf"\s*(-\s*)?({_NUM})((?:\s*[+-]\s*(?:{_NUM})){{0,{MAX_TERMS - 1}}})\s*")
_TERM = re.compile(rf"\s*([+-])\s*({_NUM})")
_DIFFERENCE = re.compile(rf"({_NUM}) - ({_NUM})")


def evaluate(text: str) -> float | None:
    """The value of `text` when it is a number or a sum/difference of up to four numbers
    ("24 - 17" -> 7.0, "1,028 + 437" -> 1465.0, "7" -> 7.0); None for anything else."""
    match = _EXPRESSION.fullmatch(_NUMBER_GAP.sub(r"\1", text))
    if match is None:
        return None
    total = parse_whole_number(match.group(2)) * (-1 if match.group(1) else 1)
    for sign, number in _TERM.findall(match.group(3)):
        total += parse_whole_number(number) if sign == "+" else -parse_whole_number(number)
    return total


def _as_written(span_text: str) -> str | None:
    found = NUMBER.search(span_text)
    return None if found is None else found.group().lstrip("-")


def target(operation: str | None, argument_texts: list[str], answer: str) -> str:
    """What the decoder learns to write for a number answer: "a - b" for a difference, "a + b (+ c)"
    for a sum, the numbers copied as the passage writes them; the answer itself for everything else
    (a count, a max/min, which stand in the passage or are small) and whenever the arguments do
    not give the answer (a target is never wrong)."""
    numbers = [_as_written(t) for t in argument_texts]
    if operation not in ("difference", "sum") or None in numbers or not 2 <= len(numbers) <= MAX_TERMS:
        return answer
    if operation == "difference" and len(numbers) != 2:
        return answer
    written = (" - " if operation == "difference" else " + ").join(numbers)  # type: ignore[arg-type]
    value, wanted = evaluate(written), evaluate(answer)
    if value is None or wanted is None or abs(value - wanted) > 1e-6 * max(1.0, abs(wanted)):
        return answer
    return written


def _larger_first(expression: str) -> str:
    """ "17 - 24" -> "24 - 17"; anything else unchanged (see the module's docstring)."""
    match = _DIFFERENCE.fullmatch(re.sub(r"\s*-\s*", " - ", expression))
    if match is None or parse_whole_number(match.group(1)) >= parse_whole_number(match.group(2)):
        return expression
    return f"{match.group(2)} - {match.group(1)}"


def example_target(example: Any) -> str:
    """`target` for an Example (model.example): its operation, argument spans and answer."""
    return target(example.operation, [s.text for s in example.argument_spans], example.answer)


def answer_of(written: str) -> dict[str, Any]:
    """The decoder's text as an answer: {"text": the value, "expression": what it wrote} when it
    wrote an expression with an operator, {"text": written} otherwise."""
    tidy = _larger_first(_NUMBER_GAP.sub(r"\1", written).strip())
    value = evaluate(tidy)
    if value is None or not re.search(r"\d\s*[+-]", tidy):
        return {"text": written, "expression": None}
    return {"text": fmt(value), "expression": tidy}
