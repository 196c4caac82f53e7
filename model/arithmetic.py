"""Derive a number from the numbers in the spans the non-target heads extracted.

The paper's first finding is that non-target span heads point at the arguments of the number a
generative head writes. This module turns that into a checkable statement, and a strict one: the
candidates are only the heads' top spans (the span head's best span, the multi-span head's set; a
caller never passes alternatives), the operations are the smallest set that covers the paper's DROP
computations, and a derivation must use every number the heads extracted. A search over a dozen
numbers with many operations "explains" almost any number, wrong ones included (it explained the
correct answer + 1 on 21% of held-out questions); this one has few ways to fit, and how often it
still explains a wrong answer is measured per checkpoint (training/analysis/chance.py) and
reported with every explanation. Used by the analysis and by the service's `explanation`.

    difference  a - b          two numbers, either order
    sum         a + b (+ c)    two or three numbers
    max / min   of the numbers two or more numbers ("how many more yards was the longest ...")
    count       of the spans   the multi-span head's set of two or more, every number in it
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])-?\d+(?:\.\d+)?")
OPERATIONS = ("difference", "sum", "max", "min", "count")
MAX_SUM_ARGUMENTS = 3  # DROP's sums add two or three numbers
MAX_COUNT = 20


def unique_spans(extracted: Iterable[tuple[Sequence[dict[str, Any]], bool]]) -> list[tuple[dict[str, Any], bool]]:
    """What the search may use: each head's top spans, given as (spans, whether they form a set),
    each non-empty span once by (field, start, end), the first seen kept; a span any head lists in
    a set counts as from a set (what `count` counts). The service's explanation and the training
    analysis' chance rate both choose spans here, so the rate measures the search the service runs."""
    unique: dict[tuple, tuple[dict[str, Any], bool]] = {}
    for spans, from_set in extracted:
        for span in spans:
            if not span.get("text"):
                continue
            key = (span.get("field"), span.get("start"), span.get("end"))
            first, seen_in_set = unique.get(key, (span, False))
            unique[key] = (first, seen_in_set or from_set)
    return list(unique.values())


def parse_number(text: str) -> float | None:
    """The first number written in `text` ("28-yard" -> 28, "1,575" -> 1575), or None."""
    match = NUMBER.search(text)
    return None if match is None else float(match.group().replace(",", ""))


def parse_whole_number(text: str) -> float | None:
    """`text` as a number when that is all it says ("7", " 1,575 "), else None."""
    match = NUMBER.fullmatch(text.strip())
    return None if match is None else float(match.group().replace(",", ""))


def fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Candidate:
    """A top span some head returned, with the number it states (None for a span without one)."""

    text: str
    score: float
    number: float | None
    from_set: bool = False  # one of a multi-span head's set: what `count` counts


@dataclass
class Derivation:
    consistent: bool  # an operation over all the extracted numbers gives the target
    operation: str | None = None  # one of OPERATIONS
    expression: str | None = None  # "24 - 17 = 7"
    arguments: list[int] = field(default_factory=list)  # indices into the candidates
    message: str = ""


def _close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-6 * max(1.0, abs(b))


def _fits(target: float, candidates: Sequence[Candidate], numeric: list[int]) -> Derivation | None:
    value = {i: candidates[i].number for i in numeric}
    t = fmt(target)
    if len(numeric) == 2:
        for i, j in itertools.permutations(numeric, 2):
            if _close(value[i] - value[j], target):
                return Derivation(True, "difference", f"{fmt(value[i])} - {fmt(value[j])} = {t}", [i, j])
    if 2 <= len(numeric) <= MAX_SUM_ARGUMENTS and _close(sum(value.values()), target):
        return Derivation(True, "sum", " + ".join(fmt(value[i]) for i in numeric) + f" = {t}", list(numeric))
    if len(numeric) >= 2:
        for name, pick in (("max", max), ("min", min)):
            if _close(pick(value.values()), target):
                return Derivation(True, name, f"{name}({', '.join(fmt(value[i]) for i in numeric)}) = {t}", list(numeric))
    in_set = [i for i, c in enumerate(candidates) if c.from_set]
    # Counting the set uses its spans, not their numbers: a number outside the set is unused. One
    # span "counted" as 1 is not a computation (any single span, the whole passage, would explain 1).
    if 2 <= len(in_set) <= MAX_COUNT and set(numeric) <= set(in_set) and _close(len(in_set), target):
        return Derivation(True, "count", f"count({', '.join(repr(candidates[i].text) for i in in_set)}) = {t}", in_set)
    return None


def derive(target: float, candidates: Sequence[Candidate]) -> Derivation:
    """The operation that gives `target` from every number among the candidates (or counts the
    multi-span set); inconsistent, with what was tried, when none does."""
    numeric = [i for i, c in enumerate(candidates) if c.number is not None]
    found = _fits(target, candidates, numeric)
    if found is not None:
        return found
    numbers = ", ".join(fmt(candidates[i].number) for i in numeric) or "none"  # type: ignore[arg-type]
    return Derivation(False, message=f"no operation ({', '.join(OPERATIONS)}) over all the extracted numbers "
                                     f"({numbers}) gives {fmt(target)}")


def wrong_answers(gold: float) -> tuple[float, float]:
    """The wrong answers the chance rate tries for a question: the near misses a number head makes."""
    return gold - 1, gold + 1
