"""DROP-like town histories: dated events in shuffled order, plus distractor numbers.

Sentences are shuffled because the years, not the order, say what happened when; "which came
first" then can't be answered by position.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from training.data.synthetic.common import (
    KINGDOMS, QA, SPANS_SEPARATOR, TOWNS, Doc, ask, distinct_ints, paraphrases, person, question_span, render,
)

INTRO = (
    "{place} is an old market town in the northern hills.",
    "{place} grew up around a river crossing.",
    "The town of {place} lies on an ancient trade route.",
    "{place} was for centuries a fortified border town.",
)
EVENTS = {
    "founding": (
        "{place} was founded by {who} in {year}.",
        "{who} founded {place} in {year}.",
        "In {year}, {who} built the first fort at {place}.",
        "The town was founded in {year} by {who}.",
    ),
    "capture": (
        "The army of {who} captured {place} in {year}.",
        "In {year}, {place} was captured by forces from {who}.",
        "{who} seized the town in {year}.",
    ),
    "charter": (
        "{place} received a royal charter in {year}.",
        "In {year}, the town was granted a royal charter.",
        "The royal charter of {place} was issued in {year}.",
    ),
    "treaty": (
        "A treaty signed in {year} gave {place} to {who}.",
        "In {year}, a peace treaty handed the town to {who}.",
        "Under a treaty of {year}, control of {place} passed to {who}.",
    ),
}
# Noun phrases that name an event in a question.
NAMES = {
    "founding": ("the founding of {place}", "the town's founding"),
    "capture": ("the capture of {place} by {who}", "{who}'s capture of the town"),
    "charter": ("the royal charter", "the granting of the royal charter"),
    "treaty": ("the treaty that gave {place} to {who}", "the treaty with {who}"),
}
CASTLE = (
    "Its castle had {towers} towers and {gates} gates.",
    "The old walls had {gates} gates and {towers} towers.",
    "The castle was built with {towers} towers and {gates} gates.",
)
POPULATION = (
    "By {year}, about {pop} people lived there.",
    "In {year}, the town had {pop} inhabitants.",
)
TRADERS = (
    "Merchants from {k} traded in its markets.",
    "Its wool was sold to merchants from {k}.",
)

Q = {
    "year_diff": paraphrases("numeric.history.year_diff", [
        "How many years passed between {ea} and {eb}?",
        "How many years after {early} came {late}?",
        "How many years separated {ea} and {eb}?",
        "How many years were there between {ea} and {eb}?",
        "How long, in years, was it from {early} to {late}?",
    ]),
    "castle_sum": paraphrases("numeric.history.castle_sum", [
        "How many towers and gates did the castle have in total?",
        "How many towers and gates did the castle have altogether?",
        "What was the combined number of towers and gates?",
        "Counting both towers and gates, how many were there?",
        "How many towers and gates were there combined?",
    ]),
    "founder": paraphrases("numeric.history.founder", [
        "Who founded {place}?",
        "Who was the founder of {place}?",
        "By whom was {place} founded?",
        "Which person founded {place}?",
        "Who established {place}?",
    ]),
    "captor": paraphrases("numeric.history.captor", [
        "Which kingdom captured {place}?",
        "Who captured {place}?",
        "Forces from which kingdom seized {place}?",
        "Which kingdom took {place} by force?",
        "{place} was captured by which kingdom?",
    ]),
    "first_event": paraphrases("numeric.history.first_event", [
        "Which happened first, {ea} or {eb}?",
        "Which came first, {ea} or {eb}?",
        "Which was earlier: {ea} or {eb}?",
        "What happened earlier, {ea} or {eb}?",
        "Which event took place first, {ea} or {eb}?",
    ]),
    "rulers": paraphrases("numeric.history.rulers", [
        "Which kingdoms controlled {place}?",
        "Which kingdoms held {place} at some point?",
        "Which kingdoms ruled {place}?",
        "Name the kingdoms that controlled {place}.",
        "Which kingdoms took control of {place}?",
    ]),
}


@dataclass
class Event:
    kind: str
    year: int
    who: str | None
    sent: int = -1


@dataclass
class History:
    doc: Doc
    place: str
    events: dict[str, Event]
    castle_sent: int | None
    theme: str = "history"
    extra: dict = field(default_factory=dict)


def passage(rng: random.Random) -> History:
    place = rng.choice(TOWNS)
    kinds = ["founding", *rng.sample(["capture", "charter", "treaty"], rng.randint(1, 3))]
    years = sorted(distinct_ints(rng, len(kinds), 1050, 1800, min_gap=4))
    # The town is founded before anything else happens to it; the rest in any order.
    rest = years[1:]
    rng.shuffle(rest)
    k_capture, k_treaty, k_trade = rng.sample(KINGDOMS, 3)
    who = {"founding": person(rng)[0], "capture": k_capture, "charter": None, "treaty": k_treaty}
    events = {k: Event(k, y, who[k]) for k, y in zip(kinds, [years[0], *rest])}

    body: list[tuple[str, str]] = [("event", k) for k in events]
    # 4-6 sentences in all: enough words around the facts, never past the length budget.
    n_extra = rng.randint(max(0, 3 - len(events)), min(2, 5 - len(events)))
    extras = rng.sample(["castle", "population", "traders"], n_extra)
    body += [(x, x) for x in extras]
    rng.shuffle(body)

    doc = Doc()
    doc.add(render(rng.choice(INTRO), {"place": place}))
    castle_sent = None
    for what, key in body:
        if what == "event":
            e = events[key]
            e.sent = doc.add(render(rng.choice(EVENTS[key]), {"place": place, "year": e.year, "who": e.who or ""}))
        elif what == "castle":
            towers, gates = distinct_ints(rng, 2, 2, 16)
            castle_sent = doc.add(render(rng.choice(CASTLE), {"towers": towers, "gates": gates}))
        elif what == "population":
            doc.add(render(rng.choice(POPULATION), {"year": rng.randint(1820, 1900), "pop": rng.randrange(800, 9000, 10)}))
        else:
            doc.add(render(rng.choice(TRADERS), {"k": k_trade}))
    return History(doc, place, events, castle_sent)


def _name(rng: random.Random, h: History, e: Event) -> str:
    return rng.choice(NAMES[e.kind]).format(place=h.place, who=e.who)


def _extra(kind: str) -> dict:
    return {"theme": "history", "kind": kind}


def year_diff(rng: random.Random, h: History, split: str) -> QA | None:
    if len(h.events) < 2:
        return None
    e1, e2 = rng.sample(list(h.events.values()), 2)
    early, late = sorted((e1, e2), key=lambda e: e.year)
    n1, n2 = _name(rng, h, e1), _name(rng, h, e2)
    names = {e1.kind: n1, e2.kind: n2}
    t, q = ask(rng, Q["year_diff"], split, {"ea": n1, "eb": n2, "early": names[early.kind], "late": names[late.kind]})
    args = [h.doc.slot_span(late.sent, "year"), h.doc.slot_span(early.sent, "year")]
    return QA("drop_number", t, q, str(late.year - early.year), "number", operation="difference",
              argument_spans=args, extra=_extra("year_diff"))


def castle_sum(rng: random.Random, h: History, split: str) -> QA | None:
    if h.castle_sent is None:
        return None
    t, q = ask(rng, Q["castle_sum"], split, {})
    args = [h.doc.slot_span(h.castle_sent, "towers"), h.doc.slot_span(h.castle_sent, "gates")]
    total = sum(int(a.text) for a in args)
    return QA("drop_number", t, q, str(total), "number", operation="sum", argument_spans=args, extra=_extra("castle_sum"))


def founder(rng: random.Random, h: History, split: str) -> QA:
    t, q = ask(rng, Q["founder"], split, {"place": h.place})
    span = h.doc.slot_span(h.events["founding"].sent, "who")
    return QA("drop_span", t, q, span.text, "span", answer_spans=[span], extra=_extra("founder"))


def captor(rng: random.Random, h: History, split: str) -> QA | None:
    if "capture" not in h.events:
        return None
    t, q = ask(rng, Q["captor"], split, {"place": h.place})
    span = h.doc.slot_span(h.events["capture"].sent, "who")
    return QA("drop_span", t, q, span.text, "span", answer_spans=[span], extra=_extra("captor"))


def first_event(rng: random.Random, h: History, split: str) -> QA | None:
    # The founding is always earliest; leaving it out keeps the answer from being a constant.
    later = [e for k, e in h.events.items() if k != "founding"]
    if len(later) < 2:
        return None
    a, b = rng.sample(later, 2)
    t, q = ask(rng, Q["first_event"], split, {"ea": _name(rng, h, a), "eb": _name(rng, h, b)})
    span = question_span(q, "ea" if a.year < b.year else "eb")
    return QA("drop_span", t, q, span.text, "span", answer_spans=[span], extra=_extra("first_event"))


def rulers(rng: random.Random, h: History, split: str) -> QA | None:
    if "capture" not in h.events or "treaty" not in h.events:
        return None
    t, q = ask(rng, Q["rulers"], split, {"place": h.place})
    spans = sorted((h.doc.slot_span(h.events[k].sent, "who") for k in ("capture", "treaty")), key=lambda s: s.start)
    return QA("drop_spans", t, q, SPANS_SEPARATOR.join(s.text for s in spans), "spans", answer_spans=spans,
              extra=_extra("rulers"))


BUILDERS = {
    "difference": (year_diff,),
    "sum": (castle_sum,),
    "span": (founder, captor, first_event),
    "spans": (rulers,),
}
