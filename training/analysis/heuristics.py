"""One-line lexical rules, each a control with no model (baselines.py wraps them).

On the synthetic test split they beat every model of earlier runs: the numbers of the sentences
most like the question point at 60% of a numeric question's arguments, the first year or country
lies in a supporting fact of 38% of yes/no questions. A finding is credited to a head only where
the head beats such a rule, so each stands in every table.

"Like the question" is lexical overlap: the number of distinct question words a sentence shares,
words compared by their first five letters (so "founded" meets "founding", "premiered" meets
"premiere"), with stop words and words of one or two letters left out. Ties go to the earlier
sentence.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from model.arithmetic import NUMBER
from model.words import STOP_WORDS, WORD

_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
# HotpotQA's layout, which the synthetic multihop data copies: one "Title: sentence ..." line per
# paragraph. The title is not a sentence of the paragraph (the supporting facts never include it).
_TITLE = re.compile(r"[^:\n]{1,80}: ")
_YEAR = re.compile(r"(?<![\w.,])(?:1\d{3}|20\d{2})(?![\w]|[.,]\d)")
STEM = 5
# Sovereign states as the passages write them; longer names first so "South Korea" is not "Korea".
COUNTRIES = tuple(sorted((
    "Afghanistan", "Albania", "Algeria", "Argentina", "Armenia", "Australia", "Austria", "Bangladesh", "Belgium",
    "Bolivia", "Brazil", "Bulgaria", "Cambodia", "Cameroon", "Canada", "Chile", "China", "Colombia", "Croatia",
    "Cuba", "Czech Republic", "Denmark", "Ecuador", "Egypt", "England", "Estonia", "Ethiopia", "Finland", "France",
    "Georgia", "Germany", "Ghana", "Greece", "Hungary", "Iceland", "India", "Indonesia", "Iran", "Iraq", "Ireland",
    "Israel", "Italy", "Jamaica", "Japan", "Kenya", "Latvia", "Lebanon", "Lithuania", "Luxembourg", "Malaysia",
    "Mexico", "Morocco", "Nepal", "Netherlands", "New Zealand", "Nigeria", "North Korea", "Norway", "Pakistan",
    "Peru", "Philippines", "Poland", "Portugal", "Romania", "Russia", "Saudi Arabia", "Scotland", "Serbia",
    "Singapore", "Slovakia", "Slovenia", "South Africa", "South Korea", "Spain", "Sri Lanka", "Sweden",
    "Switzerland", "Syria", "Taiwan", "Tanzania", "Thailand", "Tunisia", "Turkey", "Uganda", "Ukraine",
    "United Kingdom", "United States", "Uruguay", "Venezuela", "Vietnam", "Wales", "Zimbabwe",
), key=len, reverse=True))
_COUNTRY = re.compile(r"\b(?:" + "|".join(re.escape(c) for c in COUNTRIES) + r")\b")


def span(start: int, end: int, text: str, field: str = "context") -> dict[str, Any]:
    """A predicted span as the heads write one (offsets into `text`, which is its field)."""
    return {"text": text[start:end], "start": start, "end": end, "field": field, "score": 1.0}


@dataclass
class Extraction:
    ranked: list[dict[str, Any]]  # the span head's best span, then its alternatives
    chosen: list[dict[str, Any]] = field(default_factory=list)  # the multi-span head's set (and the summary)

    @classmethod
    def same(cls, spans: list[dict[str, Any]]) -> "Extraction":
        return cls(spans, list(spans))


def sentences(context: str) -> list[tuple[int, int]]:
    """The context's sentences as (start, end), without a paragraph's "Title: " when every line
    of a several-line context has one."""
    lines, start = [], 0
    for line in context.split("\n"):
        lines.append((start, start + len(line)))
        start += len(line) + 1
    texts = [context[a:b] for a, b in lines if context[a:b].strip()]
    titled = len(texts) > 1 and all(_TITLE.match(t) for t in texts)
    out = []
    for a, b in lines:
        if titled and (m := _TITLE.match(context, a, b)):
            a = m.end()
        cursor = a
        for end in [m.end() + a for m in _SENTENCE_END.finditer(context[a:b])] + [b]:
            piece = context[cursor:end]
            if piece.strip():
                lead = len(piece) - len(piece.lstrip())
                out.append((cursor + lead, cursor + len(piece.rstrip())))
            cursor = end
    return out


def stems(text: str) -> set[str]:
    return {w[:STEM] for w in (m.group().lower() for m in WORD.finditer(text)) if len(w) > 2 and w not in STOP_WORDS}


def ranked_sentences(question: str, context: str) -> list[tuple[int, int]]:
    """Sentences by the question words they share, most first; ties keep the passage's order."""
    asked = stems(question)
    spans = sentences(context)
    return sorted(spans, key=lambda s: -len(asked & stems(context[s[0]:s[1]])))


def numbers_in(context: str, start: int, end: int) -> list[dict[str, Any]]:
    return [span(start + m.start(), start + m.end(), context) for m in NUMBER.finditer(context[start:end])]


def question_sentence_numbers(question: str, context: str) -> Extraction:
    """The numbers of the sentences most like the question, best sentence first; the set is the
    numbers of the two best sentences that have numbers (a difference or a sum of two facts)."""
    with_numbers = [numbers_in(context, a, b) for a, b in ranked_sentences(question, context)]
    with_numbers = [ns for ns in with_numbers if ns]
    return Extraction([n for ns in with_numbers for n in ns], [n for ns in with_numbers[:2] for n in ns])


def last_sentence_numbers(question: str, context: str) -> Extraction:
    """The numbers of the last sentence that has any (a game's final score, a closing total)."""
    for a, b in reversed(sentences(context)):
        if found := numbers_in(context, a, b):
            return Extraction.same(found)
    return Extraction.same([])


def question_sentence(question: str, context: str) -> Extraction:
    """Every sentence, most like the question first; the set (and the summary) is the best one:
    a query-based extractive summary with no model."""
    ranked = [span(a, b, context) for a, b in ranked_sentences(question, context)]
    return Extraction(ranked, ranked[:1])


def first_year_or_country(question: str, context: str) -> Extraction:
    """The passage's years (1000-2099) and country names in order; the set is the first two: what
    a comparison of two dates or two countries compares, if the passage states them first."""
    found = sorted([(m.start(), m.end()) for m in _YEAR.finditer(context)]
                   + [(m.start(), m.end()) for m in _COUNTRY.finditer(context)])
    spans = [span(a, b, context) for a, b in found]
    return Extraction(spans, spans[:2])


def random_spans(context: str, length: int, count: int, seed: str) -> list[dict[str, Any]]:
    """`count` non-overlapping spans of `length` consecutive words at random places (fewer when
    the context is short), drawn by `random.Random(seed)`."""
    words = [(m.start(), m.end()) for m in WORD.finditer(context)]
    if not words or length < 1 or count < 1:
        return []
    length = min(length, len(words))
    starts = list(range(len(words) - length + 1))
    random.Random(seed).shuffle(starts)
    taken: list[int] = []
    for s in starts:
        if all(s + length <= t or t + length <= s for t in taken):
            taken.append(s)
        if len(taken) == count:
            break
    return [span(words[s][0], words[s + length - 1][1], context) for s in taken]
