"""The qa_summary (SQuAD + CNN/DM-like) setting: short news items about one organisation.

One "key" sentence states the organisation's news event (an event verb: opened, won, launched, ...),
at a random position. One or two "other news" sentences tell, with the same kind of event verb and
a day, what another organisation (its rival, or an organisation of another kind) did, so no surface
cue (an event verb, a day) marks the key sentence: salience is soft, the summariser must learn that
the news is the one about the organisation the passage is about. The rest are background facts.
The reference summary is the key sentence without its date and trailing clause, so it can be
matched closely. Summaries are never trained with a question. squad
examples ask about another sentence and carry a "steer" question about a third one: the analysis
feeds those questions to the summariser to see whether its summary follows the question.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from model.example import Example
from training.data.synthetic.common import (
    BANDS, CITIES, COMPANIES, FILMS, MUSEUMS, QA, TEAMS, TOWNS, UNIVERSITIES, WEEKDAYS, Doc, Rendered, Template,
    ask, check_split, example_id, paraphrases, person, pick, render, task_plan,
)

SETTING = "qa_summary"
TASK_MIX = {"squad": 0.5, "summarize": 0.5}


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


# Organisation kinds: names, what their members are called, who leads them, and their news.
KINDS = {
    "company": {
        "names": COMPANIES, "members": "employees", "title": "chief executive", "size": (80, 9000),
        "events": ("opened a new factory in {city}", "announced a new research centre in {city}",
                   "launched a delivery service in {city}", "unveiled a new headquarters in {city}",
                   "signed a deal to build a warehouse in {city}"),
    },
    "team": {
        "names": tuple(f"the {town} {team}" for town, team in zip(TOWNS, TEAMS)), "members": "players",
        "title": "head coach", "size": (22, 60),
        "events": ("won the {cup}", "won its first national title", "opened a new stadium in {city}",
                   "won the final of the {cup}", "unveiled a new training ground in {city}"),
    },
    "university": {
        "names": UNIVERSITIES, "members": "students", "title": "president", "size": (900, 9000),
        "events": ("launched a new medical school in {city}", "opened a new library",
                   "announced free tuition for nursing students", "won a national research award",
                   "opened a second campus in {city}"),
    },
    "museum": {
        "names": MUSEUMS, "members": "staff", "title": "director", "size": (15, 400),
        "events": ("opened an exhibition of paintings from {city}", "unveiled a new sculpture garden",
                   "announced free entry on weekends", "won a national design award",
                   "opened a new wing devoted to photography"),
    },
    "band": {
        "names": BANDS, "members": "crew members", "title": "lead singer", "size": (4, 40),
        "events": ("released a new album, {album}", "announced a world tour starting in {city}",
                   "won a national music award", "launched a new single, {album}",
                   "released a live recording made in {city}"),
    },
}

TRAILS = (
    "ending months of speculation", "according to a statement", "in a ceremony attended by local officials",
    "after two years of planning", "despite heavy rain", "to the surprise of many observers",
    "as part of a wider plan", "in front of a large crowd",
)

# The key sentence, with the summary written from it: the same words in subject-verb-object order
# minus the trailing (or leading) clause, so a copying summariser can score high but not perfectly.
KEY = paraphrases("qa_summary.key", [
    ("{Org} {event} on {day}, {trail}.", "{Org} {event} on {day}."),
    ("On {day}, {org} {event}, {trail}.", "{Org} {event} on {day}."),
    ("{Org} {event} this week, {trail}.", "{Org} {event} this week."),
    ("{Trail}, {org} {event} on {day}.", "{Org} {event} on {day}."),
    ("It was on {day} that {org} {event}, {trail}.", "{Org} {event} on {day}."),
])


# News of another organisation: an event verb and a day like the key sentence, never summarised.
OTHER_NEWS = (
    "{Other} {oevent} on {oday}.", "On {oday}, {other} {oevent}.", "Meanwhile, {other} {oevent} on {oday}.",
    "{Other} {oevent} on {oday}, {otrail}.", "Earlier, on {oday}, {other} {oevent}.",
)


@dataclass(frozen=True)
class Fact:
    sentences: tuple[str, ...]
    # answer slot -> question paraphrases (the last one held out)
    questions: dict[str, tuple[Template, ...]]


FACTS = {
    "founded": Fact(
        ("{Org} was founded in {year} by {founder}.", "{founder} founded {org} in {year}.",
         "{Org} dates back to {year}, when it was set up by {founder}."),
        {
            "year": paraphrases("qa_summary.founded_year", [
                "When was {org} founded?", "In what year was {org} founded?", "What year did {org} start?",
                "When was {org} set up?", "In which year did {org} come into being?"]),
            "founder": paraphrases("qa_summary.founder", [
                "Who founded {org}?", "Who was the founder of {org}?", "Who set up {org}?",
                "By whom was {org} founded?", "Which person founded {org}?"]),
        },
    ),
    "base": Fact(
        ("{Org} is based in {hq}.", "{Org} has its headquarters in {hq}.", "The home of {org} is in {hq}."),
        {"hq": paraphrases("qa_summary.base", [
            "Where is {org} based?", "In which city is {org} based?", "Where does {org} have its headquarters?",
            "What city is home to {org}?", "Which city does {org} call home?"])},
    ),
    "leader": Fact(
        ("{Org} is led by {leader}, its {title}.", "{leader} is the {title} of {org}.",
         "The {title} of {org} is {leader}."),
        {"leader": paraphrases("qa_summary.leader", [
            "Who leads {org}?", "Who is the {title} of {org}?", "Who is in charge of {org}?", "Who heads {org}?",
            "Which person leads {org}?"])},
    ),
    "size": Fact(
        ("{Org} has about {size} {members}.", "About {size} {members} work for {org}.",
         "{Org} counts roughly {size} {members}."),
        {"size": paraphrases("qa_summary.size", [
            "How many {members} does {org} have?", "How many {members} work for {org}?",
            "About how many {members} does {org} have?", "What is the number of {members} at {org}?",
            "Roughly how many {members} are there at {org}?"])},
    ),
    "spokesperson": Fact(
        ("{spokes}, a spokesperson for {org}, said the news was {mood}.",
         "{spokes}, who speaks for {org}, called the news {mood}.",
         "Speaking for {org}, {spokes} said it was {mood}."),
        {"spokes": paraphrases("qa_summary.spokesperson", [
            "Who is the spokesperson for {org}?", "Who spoke for {org}?", "Who is the spokesperson of {org}?",
            "Who commented on behalf of {org}?", "Which person spoke on behalf of {org}?"])},
    ),
    "budget": Fact(
        ("Last year, {org} had a budget of {cost}.", "{Org} spent {cost} last year.",
         "The budget of {org} last year was {cost}."),
        {"cost": paraphrases("qa_summary.budget", [
            "What was the budget of {org} last year?", "How much did {org} spend last year?",
            "How large was the budget of {org} last year?", "How much money did {org} have last year?",
            "Last year, what was the budget of {org}?"])},
    ),
    "rival": Fact(
        ("{Org} has a long rivalry with {rival}.", "{Org} is often compared with its rival, {rival}.",
         "The main rival of {org} is {rival}."),
        {"rival": paraphrases("qa_summary.rival", [
            "Who is the main rival of {org}?", "Which rival is {org} compared with?", "Who is the rival of {org}?",
            "With whom does {org} have a long rivalry?", "Which organisation is a rival of {org}?"])},
    ),
    "mayor": Fact(
        ("The mayor of {mcity}, {mayor}, praised the news.", "{mayor}, the mayor of {mcity}, praised the news.",
         "In {mcity}, mayor {mayor} praised the news."),
        {"mayor": paraphrases("qa_summary.mayor", [
            "Who is the mayor of {mcity}?", "Who serves as mayor of {mcity}?", "What is the name of the mayor of {mcity}?",
            "Who is {mcity}'s mayor?", "Which person is the mayor of {mcity}?"])},
    ),
}
MOODS = ("a proud moment", "good for the region", "a big step", "long overdue", "very welcome")


@dataclass
class Story:
    doc: Doc
    values: dict
    key_sent: int
    summary: str
    key_template: Template
    facts: dict[int, str]  # sentence index -> fact name
    other_news: tuple[int, ...] = ()  # sentence indices of the other organisations' news


def _values(rng: random.Random, kind: str) -> dict:
    spec = KINDS[kind]
    org, rival = rng.sample(spec["names"], 2)
    taken: set[str] = set()
    (city, _), (hq, _), (mcity, _) = rng.sample(CITIES, 3)
    v = {
        "org": org, "Org": _cap(org), "rival": rival, "city": city, "hq": hq, "mcity": mcity,
        "founder": person(rng, taken)[0], "leader": person(rng, taken)[0], "spokes": person(rng, taken)[0],
        "mayor": person(rng, taken)[0], "year": rng.randint(1850, 2005), "title": spec["title"],
        "size": rng.randint(*spec["size"]), "members": spec["members"], "cost": f"{rng.randint(2, 900)} million dollars",
        "mood": rng.choice(MOODS), "day": rng.choice(WEEKDAYS), "cup": f"{rng.choice(TOWNS)} Cup",
        "album": rng.choice(FILMS),
    }
    trail = rng.choice(TRAILS)
    v.update(trail=trail, Trail=_cap(trail))
    v["event"] = rng.choice(spec["events"]).format(**v)
    return v


def _other_news(rng: random.Random, v: dict, kind: str, first: bool) -> dict:
    """Slot values of one other organisation's news: one of the same kind first, then one of
    another kind. Neither is the rival, so each other organisation is named once, and the
    organisation the passage is about at least twice (its news and a fact)."""
    other_kind = kind if first else rng.choice([k for k in KINDS if k != kind])
    other = rng.choice([n for n in KINDS[other_kind]["names"] if n not in (v["org"], v["rival"])])
    day = rng.choice([d for d in WEEKDAYS if d != v["day"]])
    event = rng.choice([e for e in KINDS[other_kind]["events"] if e.format(**v) != v["event"]]).format(**v)
    trail = rng.choice([t for t in TRAILS if t != v["trail"]])
    return {"other": other, "Other": _cap(other), "oevent": event, "oday": day, "otrail": trail}


def story(rng: random.Random, split: str) -> Story:
    kind = rng.choice(list(KINDS))
    v = _values(rng, kind)
    facts = rng.sample(list(FACTS), rng.randint(2, 5))
    others = [_other_news(rng, v, kind, first=i == 0) for i in range(rng.randint(1, 2))]
    order: list[str | dict | None] = [*facts, *others]
    rng.shuffle(order)
    order.insert(rng.randint(0, len(order)), None)

    key_t = pick(rng, KEY, split)
    doc = Doc()
    fact_at: dict[int, str] = {}
    news_at: list[int] = []
    key_sent = -1
    for item in order:
        if item is None:
            key_sent = doc.add(render(key_t.text, v))
        elif isinstance(item, dict):
            news_at.append(doc.add(render(rng.choice(OTHER_NEWS), item)))
        else:
            fact_at[doc.add(render(rng.choice(FACTS[item].sentences), v))] = item
    summary = render(key_t.summary or "", v).text
    return Story(doc, {**v, "kind": kind}, key_sent, summary, key_t, fact_at, tuple(news_at))


def _question(rng: random.Random, s: Story, sent: int, split: str) -> tuple[Template, Rendered, str]:
    """A question about sentence `sent`; returns (template, question, answer slot)."""
    fact = FACTS[s.facts[sent]]
    slot = rng.choice(sorted(fact.questions))
    t, q = ask(rng, fact.questions[slot], split, s.values)
    return t, q, slot


def squad(rng: random.Random, split: str) -> tuple[Doc, QA]:
    s = story(rng, split)
    answer_sent, steer_sent = rng.sample(sorted(s.facts), 2)
    t, q, slot = _question(rng, s, answer_sent, split)
    st, sq, sslot = _question(rng, s, steer_sent, split)
    span = s.doc.slot_span(answer_sent, slot)
    extra = {
        "kind": s.values["kind"], "fact": s.facts[answer_sent],
        "summary": s.summary, "summary_sentence": s.key_sent, "answer_sentence": answer_sent,
        "steer_question": sq.text, "steer_sentence": steer_sent,
        "steer_answer": s.doc.slot_span(steer_sent, sslot).text, "steer_template": st.id,
        # [start, end) of every sentence: the analysis finds which sentence a summary follows.
        "sentence_spans": [[start, start + len(r.text)] for start, r in zip(s.doc.starts, s.doc.sentences)],
    }
    return s.doc, QA("squad", t, q, span.text, "span", answer_spans=[span],
                     evidence_spans=[s.doc.sentence_span(answer_sent)], extra=extra)


def summarize(rng: random.Random, split: str) -> tuple[Doc, QA]:
    s = story(rng, split)
    extra = {"kind": s.values["kind"], "summary_sentence": s.key_sent, "other_news_sentences": list(s.other_news),
             "organisation": s.values["org"]}
    return s.doc, QA("summarize", s.key_template, Rendered(""), s.summary, "summary",
                     evidence_spans=[s.doc.sentence_span(s.key_sent)], extra=extra)


def generate(n: int, seed: int, split: str = "train") -> list[Example]:
    check_split(split)
    # The split is part of the seed: with one seed, train and heldout must not share passages.
    rng = random.Random(f"{SETTING}/{split}/{seed}")
    out = []
    for i, task in enumerate(task_plan(rng, n, TASK_MIX)):
        doc, qa = (squad if task == "squad" else summarize)(rng, split)
        out.append(qa.to_example(doc, example_id(SETTING, split, seed, i), SETTING, split))
    return out


def question_templates() -> dict[str, bool]:
    """Question and key-sentence template ids -> held out?"""
    ids = {t.id: t.heldout for t in KEY}
    for fact in FACTS.values():
        for ts in fact.questions.values():
            ids.update({t.id: t.heldout for t in ts})
    return ids
