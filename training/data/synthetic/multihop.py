"""The multihop (HotpotQA-like) setting: titled paragraphs about two entities, plus a distractor.

Comparison questions compare one fact of two entities; bridge questions go from a film to its
director's paragraph. evidence_spans are the whole sentences that state the needed facts (a
comparison's argument_spans the compared values in them, a bridge's the director's name and the
fact asked), and extra records the facts themselves so the answer can be recomputed without
reading text.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from model.example import Example, Span
from training.data.synthetic.common import (
    AWARDS, BANDS, CITIES, COUNTRIES, FILMS, GENRES_FILM, GENRES_MUSIC, OCCUPATIONS, ORDINALS, QA, TOWNS, Doc, ask,
    balanced_flags, check_split, example_id, paraphrases, person, pronoun, render, task_plan,
)

SETTING = "multihop"
TASK_MIX = {"hotpot_yesno": 0.65, "hotpot_span": 0.35}
MAX_WORDS = 120
CITIES_OF = {c: tuple(city for city, cc in CITIES if cc == c) for c in COUNTRIES}


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


# ----------------------------------------------------------------------------- paragraphs
# Each sentence list is (attribute it states or None, templates). The intro always comes first;
# the rest are shuffled, which is why later sentences refer back by pronoun or "the film".
PARAGRAPHS = {
    "person": {
        "intro": ("{name} is {occ}.", "{name} is a well-known {occ_bare}.", "{name} works as {occ}.",
                  "{name} is an acclaimed {occ_bare}."),
        "country": ("{subj} was born in {city}, {country}.", "{subj} was born in the city of {city}, in {country}.",
                    "{poss} birthplace is {city}, {country}."),
        "year": ("{subj} was born in {year}.", "{poss} year of birth is {year}.", "{subj} was born in the year {year}."),
        "distractors": ("{subj} moved to {city2}, {country2}, in {year2}.", "{subj} won the {award} in {year2}.",
                        "{subj} has lived in {city2} since {year2}."),
    },
    "film": {
        "intro": ("{name} is {genre} film.", "{name} is {genre} film starring {actor}.",
                  "{name} is {genre} picture."),
        "director": ("It was directed by {director}.", "The film was directed by {director}.",
                     "{director} directed the film."),
        "year": ("It was released in {year}.", "The film came out in {year}.", "The film premiered in {year}."),
        "distractors": ("It was shot in {city2}.", "The film won {k} awards.", "It was remade in {year2}."),
    },
    "town": {
        "intro": ("{name} is a town in {country}.", "{name} is a small city in {country}.",
                  "{name} lies in the north of {country}."),
        "year": ("It was founded in {year}.", "The town was founded in {year}.", "{name} was founded in {year}."),
        "distractors": ("It has a population of about {k}.", "Its cathedral was completed in {year2}.",
                        "A railway reached the town in {year3}."),
    },
    "band": {
        "intro": ("{name} is {genre} band from {city}, {country}.", "{name} is {genre} band based in {city}, {country}.",
                  "{name} is {genre} group from {city}, {country}."),
        "year": ("The band was formed in {year}.", "{name} formed in {year}.", "The group got together in {year}."),
        "distractors": ("Their {ord} album was released in {year2}.", "The band has {k} members.",
                        "They toured {country2} in {year3}."),
    },
}
# In which sentence a kind states its country (a town and a band say it in the intro).
COUNTRY_SENTENCE = {"person": "country", "town": "intro", "band": "intro"}
YEAR_RANGE = {"person": (1900, 1975), "film": (1950, 1990), "town": (900, 1850), "band": (1960, 2010)}
# Years of distractor facts lie this far after the entity's own year (a person moves after birth),
# so distractors are plausible, never in the future, and never equal the compared year.
GAP = {"person": (18, 45), "film": (5, 30), "town": (20, 170), "band": (1, 12)}


@dataclass
class Entity:
    kind: str
    name: str
    values: dict
    sents: dict[str, int] = field(default_factory=dict)
    title: Span | None = None


def _new(rng: random.Random, kind: str, used: set[str], taken_surnames: set[str]) -> Entity:
    """An entity of `kind` with random facts; callers overwrite the facts a question needs."""
    lo, hi = YEAR_RANGE[kind]
    country = rng.choice(COUNTRIES)
    v: dict = {"year": rng.randint(lo, hi), "country": country, "city": rng.choice(CITIES_OF[country])}
    other_city, other_country = rng.choice(CITIES)
    v.update(city2=other_city, country2=other_country, gap=rng.randint(*GAP[kind]), gap2=rng.randint(*GAP[kind]),
             k=rng.randint(2, 9), award=rng.choice(AWARDS), ord=rng.choice(ORDINALS[:4]))
    if kind == "person":
        name, gender = person(rng, taken_surnames)
        v.update(gender=gender, occ=rng.choice(OCCUPATIONS))
    else:
        pool = {"film": FILMS, "town": TOWNS, "band": BANDS}[kind]
        name = rng.choice([x for x in pool if x not in used])
        if kind == "film":
            v.update(genre=rng.choice(GENRES_FILM), actor=person(rng, taken_surnames)[0], k=rng.randint(1, 12),
                     director=person(rng, taken_surnames)[0])
        elif kind == "band":
            v.update(genre=rng.choice(GENRES_MUSIC))
        else:
            v.update(k=rng.randrange(2000, 90000, 100))
    used.add(name)
    return Entity(kind, name, v)


def _set_country(rng: random.Random, e: Entity, country: str) -> None:
    e.values["country"] = country
    e.values["city"] = rng.choice(CITIES_OF[country])


def _write(rng: random.Random, doc: Doc, e: Entity) -> None:
    """Append e's paragraph; records the sentence index of each stated fact in e.sents."""
    spec = PARAGRAPHS[e.kind]
    v = e.values
    subj, poss = pronoun(v.get("gender", "m"))
    values = {
        **v, "name": e.name, "year2": v["year"] + v["gap"], "year3": v["year"] + v["gap2"],
        "occ": _a(v.get("occ", "x")), "occ_bare": v.get("occ", ""),
        "genre": _a(v.get("genre", "x")),
        # A person is named again in some fact sentences, so evidence does not always hinge on a pronoun.
        "subj": rng.choice((subj, e.name)), "poss": rng.choice((poss, e.name + "'s")),
    }
    facts = [a for a in ("country", "director", "year") if a in spec]
    extras = rng.sample(spec["distractors"], rng.randint(0, 2) if e.kind == "person" else rng.randint(1, 2))
    body: list[tuple[str | None, str]] = [(a, rng.choice(spec[a])) for a in facts] + [(None, t) for t in extras]
    rng.shuffle(body)
    start, end = doc.title(e.name)
    e.title = Span(start, end, e.name)
    e.sents["intro"] = doc.add(render(rng.choice(spec["intro"]), values))
    for attr, template in body:
        idx = doc.add(render(template, values))
        if attr:
            e.sents[attr] = idx


# ----------------------------------------------------------------------------- questions

Q = {
    ("person", "same"): paraphrases("multihop.person.same_country", [
        "Were {a} and {b} born in the same country?",
        "Do {a} and {b} share the same country of birth?",
        "Were {a} and {b} both born in the same country?",
        "Is {a}'s birth country the same as {b}'s?",
        "Did {a} and {b} come from the same country of birth?",
    ]),
    ("town", "same"): paraphrases("multihop.town.same_country", [
        "Are {a} and {b} located in the same country?",
        "Are {a} and {b} in the same country?",
        "Do {a} and {b} lie in the same country?",
        "Is {a} in the same country as {b}?",
        "Are {a} and {b} both in one country?",
    ]),
    ("band", "same"): paraphrases("multihop.band.same_country", [
        "Are {a} and {b} from the same country?",
        "Do {a} and {b} come from the same country?",
        "Are the bands {a} and {b} from the same country?",
        "Is {a} from the same country as {b}?",
        "Did {a} and {b} originate in the same country?",
    ]),
    ("person", "earlier"): paraphrases("multihop.person.older", [
        "Is {a} older than {b}?",
        "Was {a} born before {b}?",
        "Was {a} born earlier than {b}?",
        "Does {a} have an earlier birth year than {b}?",
        "Of {a} and {b}, is {a} the older one?",
    ]),
    ("town", "earlier"): paraphrases("multihop.town.founded_before", [
        "Was {a} founded before {b}?",
        "Is {a} older than {b}?",
        "Was {a} founded earlier than {b}?",
        "Did the founding of {a} come before that of {b}?",
        "Was {a} established before {b}?",
    ]),
    ("band", "earlier"): paraphrases("multihop.band.formed_before", [
        "Was {a} formed before {b}?",
        "Did {a} form earlier than {b}?",
        "Was {a} formed earlier than {b}?",
        "Is {a} an older band than {b}?",
        "Did {a} get together before {b}?",
    ]),
    ("film", "earlier"): paraphrases("multihop.film.released_before", [
        "Was {a} released before {b}?",
        "Did {a} come out before {b}?",
        "Was {a} released earlier than {b}?",
        "Is {a} an older film than {b}?",
        "Did {a} premiere before {b}?",
    ]),
    ("person", "which"): paraphrases("multihop.person.which_older", [
        "Who was born first, {a} or {b}?",
        "Which person is older, {a} or {b}?",
        "Who is older, {a} or {b}?",
        "Who was born earlier, {a} or {b}?",
        "Of {a} and {b}, who was born first?",
    ]),
    ("town", "which"): paraphrases("multihop.town.which_older", [
        "Which was founded first, {a} or {b}?",
        "Which town is older, {a} or {b}?",
        "Which town was founded earlier, {a} or {b}?",
        "Which is the older town, {a} or {b}?",
        "Of {a} and {b}, which was founded first?",
    ]),
    ("band", "which"): paraphrases("multihop.band.which_older", [
        "Which band formed first, {a} or {b}?",
        "Which band is older, {a} or {b}?",
        "Which was formed earlier, {a} or {b}?",
        "Which group got together first, {a} or {b}?",
        "Of {a} and {b}, which band formed first?",
    ]),
    ("film", "which"): paraphrases("multihop.film.which_older", [
        "Which film came out first, {a} or {b}?",
        "Which was released first, {a} or {b}?",
        "Which film is older, {a} or {b}?",
        "Which film was released earlier, {a} or {b}?",
        "Of {a} and {b}, which film premiered first?",
    ]),
    ("bridge", "country"): paraphrases("multihop.bridge.director_country", [
        "Was the director of {film} born in {country}?",
        "Is the director of {film} from {country}?",
        "Was {film}'s director born in {country}?",
        "Was the person who directed {film} born in {country}?",
        "Did the director of {film} come from {country}?",
    ]),
    ("bridge", "city"): paraphrases("multihop.bridge.director_city", [
        "Where was the director of {film} born?",
        "In which city was the director of {film} born?",
        "What is the birthplace of the director of {film}?",
        "Which city is the director of {film} from?",
        "The director of {film} was born in which city?",
    ]),
    ("bridge", "year"): paraphrases("multihop.bridge.director_year", [
        "In what year was the director of {film} born?",
        "When was the director of {film} born?",
        "What year was {film}'s director born?",
        "The director of {film} was born in which year?",
        "In which year was the person who directed {film} born?",
    ]),
}


def _layout(rng: random.Random, main: list[Entity], distractor: Entity | None) -> Doc:
    """Paragraphs in random order; the distractor only when the context stays within budget."""
    for _ in range(20):
        doc = Doc()
        ents = [*main, distractor] if distractor is not None else list(main)
        rng.shuffle(ents)
        for e in ents:
            e.sents = {}
            _write(rng, doc, e)
        if doc.word_count() <= MAX_WORDS:
            return doc
        distractor = None
    return doc


def _sentence(doc: Doc, e: Entity, attr: str) -> Span:
    return doc.sentence_span(e.sents[attr])


def _supporting(doc: Doc, pairs: list[tuple[Entity, str]]) -> list[list]:
    """HotpotQA-style supporting_facts: [title, sentence index within the paragraph]."""
    out = []
    for e, attr in pairs:
        idx = e.sents[attr]
        out.append([e.name, idx - e.sents["intro"]])
    return out


def _name_span(doc: Doc, e: Entity, attr: str) -> Span:
    """The entity's name inside the fact sentence when it is named there, else its paragraph title."""
    sent = doc.sentences[e.sents[attr]]
    if "name" in sent.slots:
        return doc.slot_span(e.sents[attr], "name")
    if "subj" in sent.slots and sent.text[slice(*sent.slots["subj"])] == e.name:
        return doc.slot_span(e.sents[attr], "subj")
    return e.title


def _comparison(rng: random.Random, task: str, want_yes: bool, split: str) -> tuple[Doc, QA]:
    used: set[str] = set()
    surnames: set[str] = set()
    if task == "hotpot_yesno":
        relation = rng.choice(("same", "earlier"))
    else:
        relation = "which"
    kinds = [k for (k, r) in Q if r == relation and k != "bridge"]
    kind = rng.choice(kinds)
    a, b = _new(rng, kind, used, surnames), _new(rng, kind, used, surnames)
    if relation == "same":
        if want_yes:
            _set_country(rng, b, a.values["country"])
        elif b.values["country"] == a.values["country"]:
            _set_country(rng, b, rng.choice([c for c in COUNTRIES if c != a.values["country"]]))
    else:
        while b.values["year"] == a.values["year"]:
            b.values["year"] = rng.randint(*YEAR_RANGE[kind])
        if relation == "earlier" and (a.values["year"] < b.values["year"]) != want_yes:
            a.values["year"], b.values["year"] = b.values["year"], a.values["year"]
    attr = "year" if relation != "same" else COUNTRY_SENTENCE[kind]
    value_key = "year" if relation != "same" else "country"
    distractor = _new(rng, kind, used, surnames) if rng.random() < 0.6 else None
    doc = _layout(rng, [a, b], distractor)

    t, q = ask(rng, Q[(kind, relation)], split, {"a": a.name, "b": b.name})
    va, vb = a.values[value_key], b.values[value_key]
    extra = {
        "kind": "comparison", "relation": relation, "entity_type": kind, "attribute": value_key,
        "entities": [a.name, b.name], "values": [va, vb],
        "supporting_facts": _supporting(doc, [(a, attr), (b, attr)]),
    }
    evidence = [_sentence(doc, a, attr), _sentence(doc, b, attr)]
    # the compared values where their sentences state them (a's first): the arguments of the
    # comparison, as a numeric example's are those of its operation
    arguments = [doc.slot_span(a.sents[attr], value_key), doc.slot_span(b.sents[attr], value_key)]
    if relation == "which":
        first = a if va < vb else b
        span = _name_span(doc, first, attr)
        return doc, QA("hotpot_span", t, q, span.text, "span", answer_spans=[span], evidence_spans=evidence,
                       argument_spans=arguments, extra=extra)
    yes = va == vb if relation == "same" else va < vb
    return doc, QA("hotpot_yesno", t, q, "yes" if yes else "no", "yes" if yes else "no",
                   evidence_spans=evidence, argument_spans=arguments, extra=extra)


def _bridge(rng: random.Random, task: str, want_yes: bool, split: str) -> tuple[Doc, QA]:
    used: set[str] = set()
    surnames: set[str] = set()
    director = _new(rng, "person", used, surnames)
    director.values["occ"] = "film director"
    film = _new(rng, "film", used, surnames)
    film.values["director"] = director.name
    relation = "country" if task == "hotpot_yesno" else rng.choice(("city", "year"))
    asked = director.values["country"]
    if relation == "country" and not want_yes:
        # Prefer a country the context mentions elsewhere, so "no" is not "the country is absent".
        moved = director.values["country2"]
        asked = moved if moved != asked else rng.choice([c for c in COUNTRIES if c != director.values["country"]])
    distractor = _new(rng, "person", used, surnames) if rng.random() < 0.6 else None
    doc = _layout(rng, [film, director], distractor)

    t, q = ask(rng, Q[("bridge", relation)], split, {"film": film.name, "country": asked})
    fact = "year" if relation == "year" else "country"
    evidence = [_sentence(doc, film, "director"), _sentence(doc, director, fact)]
    extra = {
        "kind": "bridge", "relation": relation, "entity_type": "film", "bridge_entity": director.name,
        "entities": [film.name, director.name], "values": [director.values[relation]],
        "supporting_facts": _supporting(doc, [(film, "director"), (director, fact)]),
    }
    # the hop's two arguments: the director's name in the film's paragraph, then the fact asked
    arguments = [doc.slot_span(film.sents["director"], "director"), doc.slot_span(director.sents[fact], relation)]
    if relation == "country":
        extra["asked"] = asked
        yes = asked == director.values["country"]
        return doc, QA("hotpot_yesno", t, q, "yes" if yes else "no", "yes" if yes else "no",
                       evidence_spans=evidence, argument_spans=arguments, extra=extra)
    span = arguments[1]  # the fact asked is the answer
    return doc, QA("hotpot_span", t, q, span.text, "span", answer_spans=[span], evidence_spans=evidence,
                   argument_spans=arguments, extra=extra)


def generate(n: int, seed: int, split: str = "train") -> list[Example]:
    check_split(split)
    # The split is part of the seed: with one seed, train and heldout must not share passages.
    rng = random.Random(f"{SETTING}/{split}/{seed}")
    plan = task_plan(rng, n, TASK_MIX)
    wants = iter(balanced_flags(rng, plan.count("hotpot_yesno")))
    out = []
    for i, task in enumerate(plan):
        want_yes = next(wants) if task == "hotpot_yesno" else False
        bridge_share = 0.3 if task == "hotpot_yesno" else 0.5
        make = _bridge if rng.random() < bridge_share else _comparison
        doc, qa = make(rng, task, want_yes, split)
        out.append(qa.to_example(doc, example_id(SETTING, split, seed, i), SETTING, split))
    return out


def question_templates() -> dict[str, bool]:
    return {t.id: t.heldout for ts in Q.values() for t in ts}
