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
    points past its paragraph (it happens in the real files) is dropped and counted."""
    data = load_json(path)
    path = Path(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: top level: expected a list of questions, got {type(data).__name__}")
    skips = Skips("read_hotpot", path)
    out: list[Example] = []
    for i, item in enumerate(data):
        where = f"[{i}]"
        qid = str(require(item, "_id", (str, int), path, where))
        question = require(item, "question", str, path, where)
        answer = require(item, "answer", str, path, where).strip()
        facts = require(item, "supporting_facts", list, path, where)
        paragraphs = require(item, "context", list, path, where)
        context, sentences = _layout(paragraphs, path, f"{where}.context")
        evidence: list[Span] = []
        for j, fact in enumerate(facts):
            if not (isinstance(fact, list) and len(fact) == 2 and isinstance(fact[0], str) and isinstance(fact[1], int)):
                raise ValueError(f"{path}: {where}.supporting_facts[{j}]: expected [title, sentence_index], got {fact!r:.80}")
            found = sentences.get((fact[0], fact[1]))
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


def _layout(paragraphs: list, path: Path, where: str) -> tuple[str, dict[tuple[str, int], Span]]:
    parts: list[str] = []
    length = 0
    sentences: dict[tuple[str, int], Span] = {}
    for p, para in enumerate(paragraphs):
        if not (isinstance(para, list) and len(para) == 2 and isinstance(para[0], str) and isinstance(para[1], list)):
            raise ValueError(f"{path}: {where}[{p}]: expected [title, [sentences]], got {para!r:.80}")
        title, sents = para
        head = ("\n" if parts else "") + f"{title}:"
        parts.append(head)
        length += len(head)
        for s, sent in enumerate(sents):
            if not isinstance(sent, str):
                raise ValueError(f"{path}: {where}[{p}][1][{s}]: expected a sentence string, got {type(sent).__name__}")
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
