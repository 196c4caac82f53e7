"""DROP JSON ({passage_id: {passage, qa_pairs: [...]}}) -> drop_number / drop_span / drop_spans.

Every gold answer of a question (`answer` and each of `validated_answers`) is kept in
`extra["answers"]` as a list of spans, written as the official drop_eval.py writes them, so that
evaluation takes the maximum over them (training.metrics.drop_scores).

A number answer gets `argument_spans` when exactly one pair of the passage's numbers gives it as
a difference or a sum, found with the same search the analysis and the service use
(model.arithmetic.derive); `extra["operation"]` names it. Several pairs that give it, or a
passage that also states the answer itself (a lookup, not a computation, or a computation: the
text cannot tell), make the question ambiguous: `extra["ambiguous"]` is set, `argument_spans` stay
empty, and the analysis, which reads argument spans, leaves it out. A question the wording marks as
a count ("How many touchdowns ...") has no argument spans either: what it counts are not numbers.
"""
from __future__ import annotations

import itertools
import re
from collections import defaultdict
from pathlib import Path

from model.arithmetic import NUMBER, Candidate, derive, fmt, parse_whole_number
from model.example import Example, Span
from training.data.readers._common import Skips, find, load_json, require

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
# The operations a pair of passage numbers is searched for; derive's max/min of two numbers is the
# answer standing in the passage, which is not a computation.
_PAIR_OPERATIONS = ("difference", "sum")
# "How many <things>" with none of these words asks for a count, not for arithmetic on quantities.
_COUNT_QUESTION = re.compile(r"^\s*how many\b", re.IGNORECASE)
_NOT_A_COUNT = re.compile(
    r"\b(more|less|fewer|longer|shorter|larger|smaller|bigger|higher|lower|difference|between|after|before|"
    r"later|earlier|combined|total|together|altogether|in all|sum|both|percent|percentage|%|yards?|points?|"
    r"years?|months?|days?|hours?|minutes?|people|households|families)\b",
    re.IGNORECASE,
)


def read_drop(path: str | Path, stats: dict | None = None) -> list[Example]:
    """Number answers -> drop_number; one span -> drop_span; several -> drop_spans. Spans are
    searched in the passage, then in the question; a span found in neither, an empty answer, or a
    date that is not written in the passage is skipped and counted. The whole file is read and
    checked before any example is returned: a malformed entry raises a ValueError naming the file,
    the entry and what is wrong."""
    data = load_json(path)
    path = Path(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level: expected an object of passage_id -> passage, got {type(data).__name__}")
    skips = Skips("read_drop", path)
    out: list[Example] = []
    for pid, entry in data.items():
        where_p = f"[{pid!r}]"
        passage = require(entry, "passage", str, path, where_p)
        numbers = _passage_numbers(passage)
        for i, qa in enumerate(require(entry, "qa_pairs", list, path, where_p)):
            where = f"{where_p}.qa_pairs[{i}]"
            question = require(qa, "question", str, path, where)
            answer = require(qa, "answer", dict, path, where)
            golds = [_official_strings(answer, path, f"{where}.answer")]
            validated = qa.get("validated_answers") or []
            if not isinstance(validated, list):
                raise ValueError(f"{path}: {where}.validated_answers: expected a list of answers, got {type(validated).__name__}")
            for j, other in enumerate(validated):
                if not isinstance(other, dict):
                    raise ValueError(f"{path}: {where}.validated_answers[{j}]: expected an answer object, got {type(other).__name__}")
                golds.append(_official_strings(other, path, f"{where}.validated_answers[{j}]"))
            qid = str(qa.get("query_id") or f"{pid}-{i}")
            ex = _example(qid, passage, question, answer, skips)
            if ex is None:
                continue
            # drop_eval.py leaves out a gold answer whose first span is blank; with none left, the
            # answer as read stands in, so that evaluation always has one to score against
            counted = [g for g in golds if g[0].strip()] or [[s.text for s in ex.answer_spans] or [ex.answer]]
            ex.extra.update(passage_id=pid, answers=counted)
            if ex.task == "drop_number":
                _add_arguments(ex, numbers)
            out.append(ex)
    skips.report(len(out), stats)
    return out


def _official_strings(answer: dict, path: Path, where: str) -> list[str]:
    """The answer as drop_eval.py's answer_json_to_strings writes it: the number, else the spans,
    else "day month year". Checks the fields it reads."""
    spans = answer.get("spans", []) or []
    if not isinstance(spans, list) or not all(isinstance(s, str) for s in spans):
        raise ValueError(f"{path}: {where}.spans: expected a list of strings, got {spans!r:.80}")
    date = answer.get("date", {}) or {}
    if not isinstance(date, dict):
        raise ValueError(f"{path}: {where}.date: expected an object with day, month, year, got {date!r:.80}")
    if answer.get("number"):
        return [str(answer["number"])]
    if spans:
        return list(spans)
    return [" ".join(str(date.get(k, "")) for k in ("day", "month", "year"))]


def _example(qid: str, passage: str, question: str, answer: dict, skips: Skips) -> Example | None:
    number = answer.get("number", "")
    spans = answer.get("spans", []) or []
    date = answer.get("date", {}) or {}
    common = dict(id=qid, setting="numeric", context=passage, question=question)
    if str(number).strip():
        return Example(task="drop_number", answer=str(number).strip(), answer_type="number", **common)
    spans = list(dict.fromkeys(s.strip() for s in spans if s.strip()))
    if spans:
        found = [_find(passage, question, s) for s in spans]
        if any(f is None for f in found):
            skips.add("span not found")
            return None
        if len(found) == 1:
            return Example(task="drop_span", answer=found[0].text, answer_type="span", answer_spans=found, **common)
        return Example(task="drop_spans", answer=", ".join(f.text for f in found), answer_type="spans",
                       answer_spans=found, **common)
    if any(str(v).strip() for v in date.values()):
        # No date head exists; a date written verbatim in the passage is still a span answer.
        span = _find_date(passage, date)
        if span is None:
            skips.add("date not in passage")
            return None
        return Example(task="drop_span", answer=span.text, answer_type="span", answer_spans=[span], **common)
    skips.add("empty answer")
    return None


def _passage_numbers(passage: str) -> dict[float, list[Span]]:
    """Each value the passage writes, with every place it stands. A number glued to letters
    ("49ers", "3rd", "1990s") names something rather than counting it, and is left out."""
    found: dict[float, list[Span]] = defaultdict(list)
    for m in NUMBER.finditer(passage):
        if passage[m.end() : m.end() + 1].isalpha():
            continue
        value = parse_whole_number(m.group())
        if value is not None:
            found[value].append(Span(m.start(), m.end(), m.group()))
    return found


def _is_count_question(question: str) -> bool:
    return bool(_COUNT_QUESTION.match(question)) and not _NOT_A_COUNT.search(question)


def _add_arguments(ex: Example, numbers: dict[float, list[Span]]) -> None:
    """argument_spans and extra["operation"] / extra["ambiguous"] for a number answer (see the
    module's docstring)."""
    target = parse_whole_number(ex.answer)
    ex.extra.update(operation=None, ambiguous=False)
    if target is None:
        return
    if _is_count_question(ex.question):
        ex.extra["operation"] = "count"
        return
    found = _argument_pairs(target, numbers)
    if not found:
        return
    stands_in_passage = target in numbers
    operations = {op for op, _ in found}
    ex.extra.update(operation=operations.pop() if len(operations) == 1 else None,
                    ambiguous=len(found) > 1 or stands_in_passage, argument_pairs=len(found))
    if not ex.extra["ambiguous"]:
        operation, arguments = found[0]
        # a difference keeps the order subtracted; a sum's order means nothing, so the passage's
        ex.argument_spans = list(arguments) if operation == "difference" else sorted(arguments, key=lambda s: s.start)


def _argument_pairs(target: float, numbers: dict[float, list[Span]]) -> list[tuple[str, tuple[Span, Span]]]:
    """Every pair of places in the passage whose numbers give `target` as a difference (in the
    order subtracted) or a sum. A value's partner is looked up rather than every pair tried (a
    long passage writes 60 numbers); derive decides each pair found."""
    by_key = {round(v, 6): v for v in numbers}  # rounded, so 0.1 + 0.2 finds 0.3
    value_pairs = set()
    for a in numbers:
        for wanted in (target - a, a - target, a + target):
            b = by_key.get(round(wanted, 6))
            if b is not None:
                value_pairs.add((min(a, b), max(a, b)))
    pairs: list[tuple[str, tuple[Span, Span]]] = []
    for a, b in sorted(value_pairs):
        derivation = derive(target, [Candidate(fmt(a), 0.0, a), Candidate(fmt(b), 0.0, b)])
        if derivation.operation not in _PAIR_OPERATIONS:
            continue
        first, second = (a, b) if derivation.arguments == [0, 1] else (b, a)
        if first == second:  # two places that write the same number, each pair once
            places = list(itertools.combinations(numbers[first], 2))
        else:
            places = [(x, y) for x in numbers[first] for y in numbers[second]]
        pairs += [(derivation.operation, place) for place in places]
    return pairs


def _find(passage: str, question: str, text: str) -> Span | None:
    return find(passage, text) or find(question, text, "question")


def _find_date(passage: str, date: dict) -> Span | None:
    day, month, year = (str(date.get(k, "")).strip() for k in ("day", "month", "year"))
    if month.isdigit() and 1 <= int(month) <= 12:
        month = _MONTHS[int(month) - 1]
    candidates = [f"{month} {day}, {year}", f"{day} {month} {year}", f"{month} {year}", f"{month} {day}",
                  f"{day} {month}", year]
    for text in candidates:
        text = " ".join(text.replace(" ,", ",").split()).strip(", ")
        if text and (span := find(passage, text)):
            return span
    return None
