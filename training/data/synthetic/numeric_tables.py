"""DROP-like census / company / enrollment passages: a few items, one count each.

Counts are pairwise at least 60 apart so that a round threshold ("more than 500") always fits
between two neighbours and "largest"/"smallest" are never ties.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from training.data.synthetic.common import (
    CITIES, COMPANIES, FACULTIES, QA, SPANS_SEPARATOR, TOWNS, UNIVERSITIES, Doc, ask, distinct_ints, paraphrases,
    question_span, render,
)

DOMAINS = {
    "offices": {
        "entities": COMPANIES,
        "items": tuple(c for c, _ in CITIES),
        "label": "the {x} office",
        "unit": "office", "units": "offices", "measure": "employees",
        "range": (40, 2400),
        "intro": (
            "{entity} published its staffing figures for {year}.",
            "In {year}, {entity} reported how many people worked at each of its offices.",
            "{entity} has offices in several cities, according to its {year} report.",
        ),
        "item": (
            "The {x} office had {n} employees.",
            "{n} people worked at the {x} office.",
            "The company employed {n} people in {x}.",
            "Its {x} office had a staff of {n}.",
        ),
        "pair": (
            "The {x} office had {n} employees, while the {x2} office had {n2}.",
            "The offices in {x} and {x2} employed {n} and {n2} people respectively.",
        ),
        "distractor": (
            "The company was founded in {year0}.",
            "Its revenue grew by {pct} percent that year.",
            "{entity} sells its products in {countries} countries.",
        ),
    },
    "villages": {
        "entities": TOWNS,
        "items": TOWNS,
        "label": "{x}",
        "unit": "village", "units": "villages", "measure": "residents",
        "range": (120, 3000),
        "intro": (
            "The {year} census counted the villages of the {entity} district.",
            "According to the {year} census, the {entity} district has several villages.",
            "Census figures for the {entity} district were released in {year}.",
        ),
        "item": (
            "{x} had {n} residents.",
            "The village of {x} was home to {n} people.",
            "{x} recorded a population of {n}.",
            "{n} people lived in {x}.",
        ),
        "pair": (
            "{x} had {n} residents, and {x2} had {n2}.",
            "The population of {x} was {n}, compared with {n2} in {x2}.",
        ),
        "distractor": (
            "The district covers {area} square kilometres.",
            "About {pct} percent of its residents worked on farms.",
            "A new road linking the villages opened in {year1}.",
        ),
    },
    "schools": {
        "entities": UNIVERSITIES,
        "items": FACULTIES,
        "label": "the {x} school",
        "unit": "school", "units": "schools", "measure": "students",
        "range": (80, 2400),
        "intro": (
            "{entity} released its enrollment figures for {year}.",
            "In {year}, {entity} reported enrollment for each of its schools.",
            "{entity} is organised into several schools, according to its {year} figures.",
        ),
        "item": (
            "The {x} school enrolled {n} students.",
            "{n} students studied at the {x} school.",
            "The {x} school had {n} students.",
            "Enrollment at the {x} school reached {n} students.",
        ),
        "pair": (
            "The {x} school had {n} students, while the {x2} school had {n2}.",
            "The {x} and {x2} schools enrolled {n} and {n2} students respectively.",
        ),
        "distractor": (
            "The university was founded in {year0}.",
            "It employs {staff} teaching staff.",
            "Its main campus covers {area} hectares.",
        ),
    },
}

Q = {
    "diff": paraphrases("numeric.table.diff", [
        "How many more {measure} did {a} have than {b}?",
        "How many {measure} more did {a} have compared with {b}?",
        "By how many {measure} did {a} outnumber {b}?",
        "What was the difference in {measure} between {a} and {b}?",
        "How many fewer {measure} did {b} have than {a}?",
    ]),
    "sum": paraphrases("numeric.table.sum", [
        "How many {measure} did {items} have combined?",
        "How many {measure} did {items} have in total?",
        "What was the total number of {measure} in {items}?",
        "Combined, how many {measure} did {items} have?",
        "How many {measure} were there in {items} together?",
    ]),
    "extreme": paraphrases("numeric.table.extreme", [
        "How many {measure} did the {sup} {unit} have?",
        "How many {measure} were in the {sup} {unit}?",
        "What was the number of {measure} in the {sup} {unit}?",
        "How many {measure} did the {sup} of the {units} have?",
        "The {sup} {unit} had how many {measure}?",
    ]),
    "count": paraphrases("numeric.table.count", [
        "How many {units} had {cmp} than {t} {measure}?",
        "How many of the {units} had {cmp} than {t} {measure}?",
        "In how many {units} were there {cmp} than {t} {measure}?",
        "How many {units} counted {cmp} than {t} {measure}?",
        "How many {units} reported {cmp} than {t} {measure}?",
    ]),
    "most": paraphrases("numeric.table.most", [
        "Which {unit} had the {most} {measure}?",
        "Which of the {units} had the {most} {measure}?",
        "What {unit} had the {most} {measure}?",
        "Which {unit} reported the {most} {measure}?",
        "Name the {unit} with the {most} {measure}.",
    ]),
    "compare": paraphrases("numeric.table.compare", [
        "Which had {cmp} {measure}, {a} or {b}?",
        "Did {a} or {b} have {cmp} {measure}?",
        "Which {unit} had {cmp} {measure}: {a} or {b}?",
        "Who had {cmp} {measure}, {a} or {b}?",
        "Between {a} and {b}, which had {cmp} {measure}?",
    ]),
    "threshold": paraphrases("numeric.table.threshold", [
        "Which {units} had {cmp} than {t} {measure}?",
        "Which of the {units} had {cmp} than {t} {measure}?",
        "Name the {units} with {cmp} than {t} {measure}.",
        "What {units} had {cmp} than {t} {measure}?",
        "Which {units} reported {cmp} than {t} {measure}?",
    ]),
}


@dataclass
class Item:
    name: str
    n: int
    sent: int = -1
    name_slot: str = "x"
    n_slot: str = "n"


@dataclass
class Table:
    doc: Doc
    domain: dict
    items: list[Item]
    theme: str = "table"
    extra: dict = field(default_factory=dict)


def passage(rng: random.Random) -> Table:
    name = rng.choice(list(DOMAINS))
    d = DOMAINS[name]
    entity = rng.choice(d["entities"])
    k = rng.randint(2, 4)
    names = rng.sample([x for x in d["items"] if x != entity], k)
    values = distinct_ints(rng, k, *d["range"], min_gap=60)
    items = [Item(x, n) for x, n in zip(names, values)]

    # Items pair up into one sentence now and then, so a sentence is not always one item.
    groups: list[list[Item]] = []
    i = 0
    while i < k:
        size = 2 if i + 1 < k and rng.random() < 0.35 else 1
        groups.append(items[i : i + size])
        i += size
    # Distractor sentences (other numbers) bring passages to 4-6 sentences.
    n_distractors = min(len(d["distractor"]), max(rng.randint(0, 2), 3 - len(groups)), 5 - len(groups))
    body: list[list[Item] | str] = [*groups, *rng.sample(d["distractor"], n_distractors)]
    rng.shuffle(body)

    doc = Doc()
    year = rng.randint(1995, 2023)
    doc.add(render(rng.choice(d["intro"]), {"entity": entity, "year": year}))
    for part in body:
        if isinstance(part, str):
            doc.add(render(part, {
                "entity": entity, "year0": rng.randint(1850, year - 5), "year1": rng.randint(year - 30, year - 1),
                "pct": rng.randint(2, 40), "area": rng.randint(20, 400), "staff": rng.randint(50, 900),
                "countries": rng.randint(3, 60),
            }))
        elif len(part) == 2:
            a, b = part
            a.sent = b.sent = doc.add(render(rng.choice(d["pair"]), {"x": a.name, "n": a.n, "x2": b.name, "n2": b.n}))
            b.name_slot, b.n_slot = "x2", "n2"
        else:
            part[0].sent = doc.add(render(rng.choice(d["item"]), {"x": part[0].name, "n": part[0].n}))
    return Table(doc, d, items, extra={"domain": name})


def _label(t: Table, item: Item) -> str:
    return t.domain["label"].format(x=item.name)


def _n(t: Table, item: Item):
    return t.doc.slot_span(item.sent, item.n_slot)


def _x(t: Table, item: Item):
    return t.doc.slot_span(item.sent, item.name_slot)


def _words(t: Table) -> dict:
    d = t.domain
    return {"unit": d["unit"], "units": d["units"], "measure": d["measure"]}


def _extra(t: Table, kind: str) -> dict:
    return {"theme": "table", "domain": t.extra["domain"], "kind": kind}


def _number(t: Table, tpl, q, answer: int, op: str, args, kind: str) -> QA:
    return QA("drop_number", tpl, q, str(answer), "number", operation=op, argument_spans=list(args),
              extra=_extra(t, kind))


def _threshold(rng: random.Random, t: Table, cmp: str, k: int) -> tuple[int, list[Item]] | None:
    """A round threshold with exactly k items strictly beyond it (above for "more", below for "fewer")."""
    ordered = sorted(t.items, key=lambda it: it.n, reverse=cmp == "more")
    if not 1 <= k < len(ordered):
        return None
    inside, outside = ordered[k - 1].n, ordered[k].n
    lo, hi = sorted((inside, outside))
    thresh = (lo // 50 + 1) * 50
    if not lo < thresh < hi:
        return None
    chosen = [it for it in t.items if (it.n > thresh if cmp == "more" else it.n < thresh)]
    return thresh, chosen


def diff(rng: random.Random, t: Table, split: str) -> QA:
    a, b = sorted(rng.sample(t.items, 2), key=lambda it: -it.n)
    tpl, q = ask(rng, Q["diff"], split, {**_words(t), "a": _label(t, a), "b": _label(t, b)})
    return _number(t, tpl, q, a.n - b.n, "difference", [_n(t, a), _n(t, b)], "diff")


def total(rng: random.Random, t: Table, split: str) -> QA:
    chosen = rng.sample(t.items, rng.randint(2, min(3, len(t.items))))
    labels = [_label(t, it) for it in chosen]
    joined = " and ".join(labels) if len(labels) == 2 else f"{labels[0]}, {labels[1]} and {labels[2]}"
    tpl, q = ask(rng, Q["sum"], split, {**_words(t), "items": joined})
    return _number(t, tpl, q, sum(it.n for it in chosen), "sum", [_n(t, it) for it in chosen], "sum")


def _extreme(rng: random.Random, t: Table, op: str, split: str) -> QA:
    sup = "largest" if op == "max" else "smallest"
    tpl, q = ask(rng, Q["extreme"], split, {**_words(t), "sup": sup})
    pick = max if op == "max" else min
    return _number(t, tpl, q, pick(it.n for it in t.items), op, [_n(t, it) for it in t.items], "extreme")


def largest(rng: random.Random, t: Table, split: str) -> QA:
    return _extreme(rng, t, "max", split)


def smallest(rng: random.Random, t: Table, split: str) -> QA:
    return _extreme(rng, t, "min", split)


def count(rng: random.Random, t: Table, split: str) -> QA | None:
    cmp = rng.choice(("more", "fewer"))
    found = _threshold(rng, t, cmp, rng.randint(1, len(t.items) - 1))
    if found is None:
        return None
    thresh, chosen = found
    tpl, q = ask(rng, Q["count"], split, {**_words(t), "cmp": cmp, "t": thresh})
    # The counted mentions are the items themselves (their names), not their numbers.
    return _number(t, tpl, q, len(chosen), "count", [_x(t, it) for it in chosen], "count")


def most(rng: random.Random, t: Table, split: str) -> QA:
    which = rng.choice(("most", "fewest"))
    item = (max if which == "most" else min)(t.items, key=lambda it: it.n)
    tpl, q = ask(rng, Q["most"], split, {**_words(t), "most": which})
    span = _x(t, item)
    return QA("drop_span", tpl, q, span.text, "span", answer_spans=[span], extra=_extra(t, "most"))


def compare(rng: random.Random, t: Table, split: str) -> QA:
    a, b = rng.sample(t.items, 2)
    cmp = rng.choice(("more", "fewer"))
    tpl, q = ask(rng, Q["compare"], split, {**_words(t), "cmp": cmp, "a": _label(t, a), "b": _label(t, b)})
    a_wins = (a.n > b.n) == (cmp == "more")
    span = question_span(q, "a" if a_wins else "b")
    return QA("drop_span", tpl, q, span.text, "span", answer_spans=[span], extra=_extra(t, "compare"))


def threshold(rng: random.Random, t: Table, split: str) -> QA | None:
    if len(t.items) < 3:
        return None
    cmp = rng.choice(("more", "fewer"))
    found = _threshold(rng, t, cmp, rng.randint(2, min(3, len(t.items) - 1)))
    if found is None:
        return None
    thresh, chosen = found
    tpl, q = ask(rng, Q["threshold"], split, {**_words(t), "cmp": cmp, "t": thresh})
    spans = sorted((_x(t, it) for it in chosen), key=lambda s: s.start)
    return QA("drop_spans", tpl, q, SPANS_SEPARATOR.join(s.text for s in spans), "spans", answer_spans=spans,
              extra=_extra(t, "threshold"))


BUILDERS = {
    "difference": (diff,),
    "sum": (total,),
    "count": (count,),
    "max": (largest,),
    "min": (smallest,),
    "span": (most, compare),
    "spans": (threshold,),
}
