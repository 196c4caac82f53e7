"""HotpotQA distractor JSON -> hotpot_yesno / hotpot_span, with supporting sentences as evidence.

The context is written the way the synthetic multihop data is: one "Title: sentence sentence ..."
line per paragraph, so evidence offsets come from the layout, not from searching.
"""
from __future__ import annotations

from pathlib import Path

from training.data.readers._common import Skips, find, load_json, require
from model.example import Example, Span


def read_hotpot(path: str | Path, stats: dict | None = None) -> list[Example]:
    """yes/no answers -> hotpot_yesno; others -> hotpot_span, found in the supporting sentences
    first, then anywhere in the context (not found: skipped and counted). A supporting fact that
    points past its paragraph (it happens in the real files) is dropped and counted.

    Two layouts are read, told apart per record by the shape of its `context`:
      official      {"_id", "question", "answer", "supporting_facts": [[title, sent_id], ...],
                     "context": [[title, [sentence, ...]], ...]}
      Hugging Face  {"id"?, "question", "answer", "supporting_facts": {"title": [...], "sent_id": [...]},
                     "context": {"title": [...], "sentences": [[sentence, ...], ...]}}
    A record without an id is named "<file stem>-<index>", the same on every read. The whole file
    is checked before any example is returned."""
    data = load_json(path)
    path = Path(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: top level: expected a list of questions, got {type(data).__name__}")
    skips = Skips("read_hotpot", path)
    out: list[Example] = []
    for i, item in enumerate(data):
        where = f"[{i}]"
        question = require(item, "question", str, path, where)
        answer = require(item, "answer", str, path, where).strip()
        qid = _question_id(item, i, path, where)
        if isinstance(require(item, "context", (list, dict), path, where), dict):
            facts, paragraphs = _hugging_face(item, path, where)
        else:
            facts, paragraphs = _official(item, path, where)
        context, sentences = _layout(paragraphs)
        evidence: list[Span] = []
        for fact in facts:
            found = sentences.get(fact)
            if found is None:
                skips.add("supporting fact out of range")
                continue
            evidence.append(found)
        common = dict(id=qid, setting="multihop", context=context, question=question, evidence_spans=evidence,
                      extra={"type": item.get("type"), "level": item.get("level"),
                             "supporting_facts": [list(f) for f in facts]})
        if answer.lower() in ("yes", "no"):
            out.append(Example(task="hotpot_yesno", answer=answer.lower(), answer_type=answer.lower(), **common))
            continue
        span = _find_answer(context, evidence, answer)
        if span is None:
            skips.add("answer not in context")
            continue
        out.append(Example(task="hotpot_span", answer=span.text, answer_type="span", answer_spans=[span], **common))
    skips.report(len(out), stats)
    return out


Facts = list[tuple[str, int]]
Paragraphs = list[tuple[str, list[str]]]


def _question_id(item: dict, index: int, path: Path, where: str) -> str:
    for key in ("_id", "id"):  # the official files say "_id", Hugging Face's "id"
        if item.get(key) not in (None, ""):
            if not isinstance(item[key], (str, int)):
                raise ValueError(f"{path}: {where}.{key}: expected a string, got {type(item[key]).__name__}")
            return str(item[key])
    return f"{path.stem}-{index}"


def _official(item: dict, path: Path, where: str) -> tuple[Facts, Paragraphs]:
    facts: Facts = []
    for j, fact in enumerate(require(item, "supporting_facts", list, path, where)):
        if not (isinstance(fact, list) and len(fact) == 2 and isinstance(fact[0], str) and _is_index(fact[1])):
            raise ValueError(f"{path}: {where}.supporting_facts[{j}]: expected [title, sentence_index], got {fact!r:.80}")
        facts.append((fact[0], fact[1]))
    paragraphs: Paragraphs = []
    for p, para in enumerate(item["context"]):
        if not (isinstance(para, list) and len(para) == 2 and isinstance(para[0], str) and isinstance(para[1], list)):
            raise ValueError(f"{path}: {where}.context[{p}]: expected [title, [sentences]], got {para!r:.80}")
        paragraphs.append((para[0], _sentences(para[1], path, f"{where}.context[{p}][1]")))
    return facts, paragraphs


def _hugging_face(item: dict, path: Path, where: str) -> tuple[Facts, Paragraphs]:
    where_f, where_c = f"{where}.supporting_facts", f"{where}.context"
    titles, sent_ids = _columns(require(item, "supporting_facts", dict, path, where), ("title", "sent_id"), path, where_f)
    facts: Facts = []
    for j, (title, sent_id) in enumerate(zip(titles, sent_ids)):
        if not (isinstance(title, str) and _is_index(sent_id)):
            raise ValueError(f"{path}: {where_f}: entry {j}: expected a title string and a sentence index, "
                             f"got {title!r:.40} and {sent_id!r:.20}")
        facts.append((title, sent_id))
    names, bodies = _columns(item["context"], ("title", "sentences"), path, where_c)
    paragraphs: Paragraphs = []
    for p, (title, sents) in enumerate(zip(names, bodies)):
        if not isinstance(title, str):
            raise ValueError(f"{path}: {where_c}.title[{p}]: expected a string, got {type(title).__name__}")
        if not isinstance(sents, list):
            raise ValueError(f"{path}: {where_c}.sentences[{p}]: expected a list of sentences, got {type(sents).__name__}")
        paragraphs.append((title, _sentences(sents, path, f"{where_c}.sentences[{p}]")))
    return facts, paragraphs


def _columns(obj: dict, keys: tuple[str, str], path: Path, where: str) -> tuple[list, list]:
    """Two parallel lists of the Hugging Face layout, which must be as long as each other."""
    first, second = (require(obj, k, list, path, where) for k in keys)
    if len(first) != len(second):
        raise ValueError(f"{path}: {where}: {keys[0]!r} has {len(first)} entries and {keys[1]!r} {len(second)}; "
                         f"each {keys[0]} needs its {keys[1]}")
    return first, second


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sentences(sents: list, path: Path, where: str) -> list[str]:
    for s, sent in enumerate(sents):
        if not isinstance(sent, str):
            raise ValueError(f"{path}: {where}[{s}]: expected a sentence string, got {type(sent).__name__}")
    return sents


def _layout(paragraphs: Paragraphs) -> tuple[str, dict[tuple[str, int], Span]]:
    parts: list[str] = []
    length = 0
    sentences: dict[tuple[str, int], Span] = {}
    for title, sents in paragraphs:
        head = ("\n" if parts else "") + f"{title}:"
        parts.append(head)
        length += len(head)
        for s, sent in enumerate(sents):
            sent = sent.strip()
            if not sent:
                continue
            parts.append(" ")
            length += 1
            sentences[(title, s)] = Span(length, length + len(sent), sent)
            parts.append(sent)
            length += len(sent)
    return "".join(parts), sentences


def _find_answer(context: str, evidence: list[Span], answer: str) -> Span | None:
    for ev in evidence:
        inner = find(ev.text, answer)
        if inner is not None:
            return Span(ev.start + inner.start, ev.start + inner.end, inner.text)
    return find(context, answer)
