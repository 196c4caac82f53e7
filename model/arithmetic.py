"""Derive a number from the numbers in a few spans, with the numeric setting's operations.

The paper's first finding is that non-target span heads point at the arguments of the number a
generative head writes. This module turns that into a checkable statement: given the target number
and the spans the other heads returned, is there an operation of the setting (difference, sum,
max, min, count, or the number itself) over those spans that gives it? Used by the analysis and by
the service's `explanation`.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Sequence

NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])-?\d+(?:\.\d+)?")
# More candidates than this make the pair/triple search slow and the explanations meaningless.
MAX_CANDIDATES = 12
MAX_COUNT = 20


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
    """A span some head returned, with the number it states (None for a span without one)."""

    text: str
    score: float
    number: float | None
    from_set: bool = False  # returned as one of a set of spans (a multi-span head): count applies


@dataclass
class Derivation:
    consistent: bool
    operation: str | None = None  # difference | sum | max | min | count | identity
    expression: str | None = None  # "24 - 17 = 7"
    arguments: list[int] = field(default_factory=list)  # indices into the candidates
    message: str = ""


def _close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-6 * max(1.0, abs(b))


def derive(target: float, candidates: Sequence[Candidate]) -> Derivation:
    """The operation over the candidates' numbers that gives `target`, preferring the one whose
    arguments the heads scored highest (then the one with fewer arguments)."""
    numeric = [i for i, c in enumerate(candidates) if c.number is not None][:MAX_CANDIDATES]
    options: list[tuple[float, int, Derivation]] = []

    def offer(operation: str, args: Sequence[int], expression: str) -> None:
        score = sum(candidates[i].score for i in args) / len(args)
        options.append((score, -len(args), Derivation(True, operation, expression, list(args))))

    value = {i: candidates[i].number for i in numeric}
    t = fmt(target)
    for i in numeric:
        if _close(value[i], target):
            offer("identity", [i], f"{fmt(value[i])} = {t}")
    for i, j in itertools.permutations(numeric, 2):
        if _close(value[i] - value[j], target):
            offer("difference", [i, j], f"{fmt(value[i])} - {fmt(value[j])} = {t}")
    for size in (2, 3):
        for group in itertools.combinations(numeric, size):
            if _close(sum(value[i] for i in group), target):
                offer("sum", group, " + ".join(fmt(value[i]) for i in group) + f" = {t}")
    if len(numeric) >= 2:
        for name, pick in (("max", max), ("min", min)):
            best = pick(numeric, key=lambda i: value[i])
            if _close(value[best], target):
                offer(name, numeric, f"{name}({', '.join(fmt(value[i]) for i in numeric)}) = {t}")
    in_set = [i for i, c in enumerate(candidates) if c.from_set]
    if in_set and len(in_set) <= MAX_COUNT and _close(len(in_set), target):
        offer("count", in_set, f"count({', '.join(repr(candidates[i].text) for i in in_set)}) = {t}")
    if not options:
        found = ", ".join(fmt(value[i]) for i in numeric) or "none"
        return Derivation(False, message=f"no operation over the spans' numbers ({found}) gives {t}")
    options.sort(key=lambda o: (o[0], o[1]), reverse=True)
    return options[0][2]
