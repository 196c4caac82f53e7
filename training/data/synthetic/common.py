"""Shared machinery of the synthetic generators: templates with tracked slot offsets, a context
builder that knows where every sentence and slot landed, held-out template bookkeeping, task plans.

Every span an example carries is taken from these recorded offsets, never found again by string
search, so ground truth stays exact even when a value occurs twice in a passage.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from model.example import Example, Span

SPLITS = ("train", "heldout")

# How the answer string of a multi-span ("spans") example joins its spans; answer_spans is the
# authoritative list.
SPANS_SEPARATOR = ", "

# «...» marks one "mention" region of a sentence (e.g. "12-yard touchdown run"): what a count
# question counts. {slot} is a value whose offsets are recorded.
_TOKEN = re.compile(r"\{(\w+)\}|«|»")


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


# --------------------------------------------------------------------------- rendering


@dataclass
class Rendered:
    text: str
    slots: dict[str, tuple[int, int]] = field(default_factory=dict)
    mention: tuple[int, int] | None = None


def render(template: str, values: Mapping[str, object]) -> Rendered:
    """Fill {slot}s and record where each slot (first occurrence) and the «mention» landed."""
    out: list[str] = []
    length = 0
    slots: dict[str, tuple[int, int]] = {}
    mention_start: int | None = None
    mention: tuple[int, int] | None = None
    last = 0
    for m in _TOKEN.finditer(template):
        literal = template[last : m.start()]
        out.append(literal)
        length += len(literal)
        last = m.end()
        if m.group(1) is not None:
            key = m.group(1)
            if key not in values:
                raise ValueError(f"template {template!r} needs slot {key!r}; given {sorted(values)}")
            value = str(values[key])
            slots.setdefault(key, (length, length + len(value)))
            out.append(value)
            length += len(value)
        elif m.group(0) == "«":
            mention_start = length
        else:
            if mention_start is None:
                raise ValueError(f"template {template!r}: » without «")
            mention = (mention_start, length)
    out.append(template[last:])
    return Rendered("".join(out), slots, mention)


def with_prefix(prefix: str, template: str) -> str:
    """Prepend a sentence opener ("In the first quarter, ") to a template that starts a sentence.

    Names always enter through slots, so a template that starts with a literal word starts with a
    common word ("The", "Kicker") that must lose its capital after the opener.
    """
    if not prefix:
        return template
    if not template.startswith("{"):
        template = template[0].lower() + template[1:]
    return prefix + template


class Doc:
    """A context assembled sentence by sentence; remembers each sentence's offset."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._len = 0
        self.sentences: list[Rendered] = []
        self.starts: list[int] = []
        self.paragraph_of: list[int] = []
        self._paragraph = -1
        self._paragraph_open = False

    def _raw(self, text: str) -> None:
        self._parts.append(text)
        self._len += len(text)

    def title(self, title: str) -> tuple[int, int]:
        """Open a paragraph "Title: ..." on a new line; returns the title's offsets."""
        if self._len:
            self._raw("\n")
        start = self._len
        self._raw(title)
        self._raw(": ")
        self._paragraph += 1
        self._paragraph_open = True
        return start, start + len(title)

    def add(self, sentence: Rendered) -> int:
        if self._len and not self._paragraph_open:
            self._raw(" ")
        self._paragraph_open = False
        self.starts.append(self._len)
        self.sentences.append(sentence)
        self.paragraph_of.append(self._paragraph)
        self._raw(sentence.text)
        return len(self.sentences) - 1

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def sentence_span(self, i: int) -> Span:
        start = self.starts[i]
        return Span(start, start + len(self.sentences[i].text), self.sentences[i].text)

    def slot_span(self, i: int, slot: str) -> Span:
        s, e = self.sentences[i].slots[slot]
        base = self.starts[i]
        return Span(base + s, base + e, self.sentences[i].text[s:e])

    def mention_span(self, i: int) -> Span:
        found = self.sentences[i].mention
        if found is None:
            raise ValueError(f"sentence {self.sentences[i].text!r} has no «mention»")
        s, e = found
        base = self.starts[i]
        return Span(base + s, base + e, self.sentences[i].text[s:e])

    def word_count(self) -> int:
        return len(self.text.split())


def question_span(q: Rendered, slot: str) -> Span:
    s, e = q.slots[slot]
    return Span(s, e, q.text[s:e], field="question")


@dataclass
class QA:
    """A question (or summary target) about a Doc, before it becomes an Example."""

    task: str
    template: Template
    question: Rendered
    answer: str
    answer_type: str
    answer_spans: list[Span] = field(default_factory=list)
    operation: str | None = None
    argument_spans: list[Span] = field(default_factory=list)
    evidence_spans: list[Span] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def to_example(self, doc: Doc, ex_id: str, setting: str, split: str) -> Example:
        return Example(
            id=ex_id,
            setting=setting,
            task=self.task,
            context=doc.text,
            question=self.question.text,
            answer=self.answer,
            answer_type=self.answer_type,
            answer_spans=self.answer_spans,
            operation=self.operation,
            argument_spans=self.argument_spans,
            evidence_spans=self.evidence_spans,
            template=self.template.id,
            split=split,
            extra=self.extra,
        )


def ask(
    rng: random.Random, templates: Sequence[Template], split: str, values: Mapping[str, object]
) -> tuple[Template, Rendered]:
    """Pick a question template of the split and fill it."""
    t = pick(rng, templates, split)
    return t, render(t.text, values)


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class Template:
    id: str
    text: str
    heldout: bool
    # qa_summary key sentences: the reference summary written from this sentence.
    summary: str | None = None


def paraphrases(kind: str, texts: Sequence[str | tuple[str, str]]) -> tuple[Template, ...]:
    """Paraphrases of one question (or sentence) kind; the last one is held out.

    With 4-5 paraphrases per kind that holds out 20-25%, and every kind can appear in both splits.
    """
    if len(texts) < 4:
        raise ValueError(f"template kind {kind!r} needs at least 4 paraphrases (1 held out), got {len(texts)}")
    out = []
    for i, t in enumerate(texts):
        text, summary = (t, None) if isinstance(t, str) else t
        out.append(Template(f"{kind}.{i}", text, heldout=i == len(texts) - 1, summary=summary))
    return tuple(out)


def pick(rng: random.Random, templates: Sequence[Template], split: str) -> Template:
    held = split == "heldout"
    pool = [t for t in templates if t.heldout == held]
    return rng.choice(pool)


def all_template_ids(tables: Mapping[str, Sequence[Template]]) -> dict[str, bool]:
    """template id -> held out?, for tests and reports."""
    return {t.id: t.heldout for ts in tables.values() for t in ts}


# --------------------------------------------------------------------------- plans and ids


def task_plan(rng: random.Random, n: int, weights: Mapping[str, float]) -> list[str]:
    """Exactly-proportioned task labels (largest remainder), shuffled: the mix holds even for small n."""
    total = sum(weights.values())
    raw = {k: n * w / total for k, w in weights.items()}
    counts = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - counts[k], reverse=True)[: n - sum(counts.values())]:
        counts[k] += 1
    plan = [k for k, c in counts.items() for _ in range(c)]
    rng.shuffle(plan)
    return plan


def balanced_flags(rng: random.Random, n: int) -> list[bool]:
    flags = [i % 2 == 0 for i in range(n)]
    rng.shuffle(flags)
    return flags


def example_id(setting: str, split: str, seed: int, i: int) -> str:
    return f"{setting}-{split}-s{seed}-{i:06d}"


def distinct_ints(rng: random.Random, k: int, lo: int, hi: int, min_gap: int = 1) -> list[int]:
    """k integers in [lo, hi], pairwise at least min_gap apart (so max/min/comparisons are unambiguous)."""
    for _ in range(1000):
        vals = [rng.randint(lo, hi) for _ in range(k)]
        ordered = sorted(vals)
        if all(b - a >= min_gap for a, b in zip(ordered, ordered[1:])):
            return vals
    raise ValueError(f"cannot draw {k} ints in [{lo}, {hi}] at least {min_gap} apart")


# --------------------------------------------------------------------------- pools
# Names are invented or common; facts about them are synthetic, so nothing can be "known" from
# pre-training and every answer must come from the passage.


def _words(s: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in s.split(",") if w.strip())


MALE_FIRST = _words(
    "James, John, Robert, Michael, David, William, Richard, Thomas, Daniel, Paul, Mark, George, Steven,"
    "Kevin, Brian, Edward, Ronald, Anthony, Jason, Ryan, Jacob, Gary, Eric, Peter, Frank, Scott, Raymond,"
    "Samuel, Gregory, Patrick, Jack, Dennis, Jerry, Tyler, Aaron, Henry, Adam, Nathan, Carl, Arthur,"
    "Lucas, Marco, Hugo, Felix, Oscar, Luis, Ivan, Omar, Hiro, Kenji, Lars, Sven, Pierre, Andre, Mateo"
)
FEMALE_FIRST = _words(
    "Mary, Patricia, Jennifer, Linda, Elizabeth, Barbara, Susan, Jessica, Sarah, Karen, Nancy, Lisa,"
    "Emily, Laura, Helen, Sandra, Donna, Carol, Ruth, Sharon, Michelle, Amanda, Melissa, Anna, Rebecca,"
    "Julia, Grace, Alice, Clara, Diana, Emma, Olivia, Sofia, Nina, Elena, Maria, Ingrid, Yuki, Aiko,"
    "Amelie, Chloe, Lucia, Marta, Rosa, Hannah, Leah, Irene, Vera, Greta, Paula"
)
LAST = _words(
    "Smith, Johnson, Brown, Taylor, Miller, Wilson, Moore, Anderson, Jackson, White, Harris, Martin,"
    "Thompson, Garcia, Clark, Lewis, Walker, Hall, Allen, Young, King, Wright, Scott, Green, Baker,"
    "Adams, Nelson, Hill, Campbell, Mitchell, Roberts, Carter, Phillips, Evans, Turner, Parker, Collins,"
    "Edwards, Stewart, Morris, Murphy, Cook, Rogers, Morgan, Cooper, Peterson, Reed, Bailey, Bell, Kelly,"
    "Howard, Ward, Cox, Richardson, Wood, Watson, Brooks, Bennett, Gray, Hughes, Price, Sanders, Myers,"
    "Long, Ross, Foster, Powell, Jenkins, Perry, Russell, Sullivan, Fisher, Henderson, Hayes, Graham,"
    "Marshall, Owens, Harper, Lindqvist, Moreau, Rossi, Tanaka, Novak, Kowalski, Jansen, Dubois, Ferrari,"
    "Larsen, Weber, Schmidt, Okafor, Mendes, Costa, Silva, Nakamura, Haddad, Petrov, Keller, Brennan"
)

# (city, country): birthplaces, band origins, offices.
CITIES = (
    ("Lyon", "France"), ("Marseille", "France"), ("Toulouse", "France"), ("Nantes", "France"),
    ("Munich", "Germany"), ("Hamburg", "Germany"), ("Cologne", "Germany"), ("Leipzig", "Germany"),
    ("Milan", "Italy"), ("Naples", "Italy"), ("Turin", "Italy"), ("Bologna", "Italy"),
    ("Seville", "Spain"), ("Valencia", "Spain"), ("Bilbao", "Spain"), ("Malaga", "Spain"),
    ("Porto", "Portugal"), ("Braga", "Portugal"), ("Coimbra", "Portugal"),
    ("Manchester", "England"), ("Leeds", "England"), ("Bristol", "England"), ("Liverpool", "England"),
    ("Glasgow", "Scotland"), ("Aberdeen", "Scotland"), ("Dundee", "Scotland"),
    ("Cork", "Ireland"), ("Galway", "Ireland"), ("Limerick", "Ireland"),
    ("Gothenburg", "Sweden"), ("Malmo", "Sweden"), ("Uppsala", "Sweden"),
    ("Bergen", "Norway"), ("Trondheim", "Norway"), ("Stavanger", "Norway"),
    ("Krakow", "Poland"), ("Gdansk", "Poland"), ("Wroclaw", "Poland"),
    ("Osaka", "Japan"), ("Kyoto", "Japan"), ("Sapporo", "Japan"), ("Nagoya", "Japan"),
    ("Busan", "South Korea"), ("Daegu", "South Korea"),
    ("Melbourne", "Australia"), ("Perth", "Australia"), ("Adelaide", "Australia"),
    ("Toronto", "Canada"), ("Calgary", "Canada"), ("Winnipeg", "Canada"), ("Halifax", "Canada"),
    ("Chicago", "the United States"), ("Denver", "the United States"), ("Seattle", "the United States"),
    ("Houston", "the United States"), ("Boston", "the United States"),
    ("Cordoba", "Argentina"), ("Rosario", "Argentina"), ("Recife", "Brazil"), ("Curitiba", "Brazil"),
    ("Puebla", "Mexico"), ("Monterrey", "Mexico"), ("Durban", "South Africa"), ("Pretoria", "South Africa"),
)
COUNTRIES = tuple(sorted({c for _, c in CITIES}))

# Invented place names: villages, towns with a history, districts.
TOWNS = _words(
    "Ashford, Millbrook, Oakvale, Stonebridge, Riverton, Elmstead, Fairhaven, Greywater, Highmoor,"
    "Kingsley, Larkfield, Marston, Northwick, Pinecrest, Redcliff, Southam, Thornbury, Upton Vale,"
    "Westmere, Yarrow, Brackenridge, Coldwell, Dunmore, Eastleigh, Foxhollow, Glenford, Hollowmere,"
    "Ironbridge, Juniper Falls, Kestrel Bay, Lindenholm, Moorcastle, Newhaven, Oldbury, Penwick,"
    "Quarrydale, Rookwood, Silverdale, Tamsworth, Ulverton, Valeport, Whitcombe, Alderney Cross,"
    "Brightwater, Cinderford, Draymoor, Emberton, Fenwick, Goldcrest, Harrowgate"
)
KINGDOMS = _words(
    "Aldoria, Brevania, Calvora, Dunhelm, Estmark, Fennland, Galicor, Hestria, Istmere, Jorvaland,"
    "Karthen, Lorvik, Marendor, Norvessa, Ostrava Minor, Pellagia, Quenmark, Rhovania, Sarnia, Tolvania"
)
# Team nicknames (plural), used as "the Hawks".
TEAMS = _words(
    "Hawks, Bears, Wolves, Lions, Falcons, Rams, Eagles, Panthers, Chargers, Titans, Ravens, Jets,"
    "Cougars, Mustangs, Hornets, Vikings, Knights, Pirates, Stallions, Bulldogs, Raiders, Comets, Owls,"
    "Foxes, Sharks, Bison, Gators, Rangers, Spartans, Wildcats, Coyotes, Badgers, Storm Riders, Pioneers"
)
COMPANIES = _words(
    "Northwind Systems, Bluepeak Energy, Corvel Foods, Dunwell Logistics, Everline Motors, Fablecraft Toys,"
    "Granite Hill Bank, Halcyon Health, Ironleaf Software, Juniper Textiles, Keystone Freight,"
    "Lumina Optics, Meridian Steel, Nimbus Airlines, Orchard Pharma, Pinnacle Media, Quillon Paper,"
    "Redwood Robotics, Silverline Rail, Tidewater Shipping, Umbra Solar, Vantage Chemicals,"
    "Westbrook Furniture, Zephyr Electronics, Arclight Games, Brightfield Dairy, Coastal Cement, Delta Loom"
)
UNIVERSITIES = _words(
    "Ashford University, Millbrook College, Riverton Institute of Technology, Kingsley University,"
    "Westmere College, Northwick University, Stonebridge Polytechnic, Fairhaven University,"
    "Glenford College, Silverdale University, Harrowgate Institute, Thornbury University"
)
FACULTIES = _words("law, medicine, engineering, arts, science, business, music, education, nursing, design")
MUSEUMS = _words(
    "the Ashford Museum of Art, the Riverton History Museum, the Kingsley Science Centre,"
    "the Marston Gallery, the Northwick Maritime Museum, the Penwick Design Museum,"
    "the Silverdale Museum of Photography, the Whitcombe Natural History Museum"
)
BANDS = _words(
    "The Paper Lanterns, Velvet Harbor, Static Orchard, The Midnight Ferries, Copper Sparrow,"
    "Glass Atlas, The Hollow Pines, Neon Tides, The Quiet Engines, Silver Coast, The Wandering Keys,"
    "Amber Satellites, The Lost Radios, Electric Meadow, Marble Hearts, The Northern Kites, Paper Moons,"
    "The Lighthouse Choir, Crimson Ferry, The Velvet Arrows, Ocean Static, The Iron Swallows"
)
FILMS = _words(
    "The Silent Harbor, Winter Lights, A Distant Shore, The Glass Garden, Midnight Express Line,"
    "The Last Orchard, Paper Kingdoms, The Iron Bridge, Northern Echoes, The Forgotten Road,"
    "Summer of Storms, The Quiet Valley, Crimson Skies, The Clockmaker, Beneath the Pines,"
    "The Salt Road, Lanterns at Dusk, The River Thief, A Long Night in Porto, The Ninth Door,"
    "Golden Fields, The Lighthouse Keeper, Shadows of Autumn, The Copper Crown"
)
GENRES_FILM = _words("drama, comedy, thriller, documentary, science fiction, crime, romance, war, adventure")
GENRES_MUSIC = _words("rock, folk, jazz, indie pop, punk, electronic, soul, blues, country, metal")
OCCUPATIONS = _words(
    "novelist, painter, architect, physicist, composer, journalist, photographer, chef, sculptor,"
    "historian, poet, economist, actor, singer, engineer, mathematician"
)
AWARDS = _words("Golden Quill award, National Arts medal, Silver Lens prize, Crescent award, Harbor prize")
WEEKDAYS = _words("Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday")
ORDINALS = ("first", "second", "third", "fourth", "fifth")


def person(rng: random.Random, taken: set[str] | None = None) -> tuple[str, str]:
    """(full name, gender "m"/"f"); full names and surnames unique within `taken`."""
    taken = taken if taken is not None else set()
    for _ in range(200):
        gender = rng.choice("mf")
        first = rng.choice(MALE_FIRST if gender == "m" else FEMALE_FIRST)
        last = rng.choice(LAST)
        if last not in taken:
            taken.add(last)
            return f"{first} {last}", gender
    raise ValueError("person pool exhausted")


def pronoun(gender: str) -> tuple[str, str]:
    """(subject, possessive), capitalised for a sentence start."""
    return ("He", "His") if gender == "m" else ("She", "Her")
