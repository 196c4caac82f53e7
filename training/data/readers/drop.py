"""DROP JSON ({passage_id: {passage, qa_pairs: [...]}}) -> drop_number / drop_span / drop_spans."""
from __future__ import annotations

from pathlib import Path

from training.data.readers._common import Skips, find, load_json, require
from model.example import Example, Span

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def read_drop(path: str | Path, stats: dict | None = None) -> list[Example]:
    """Number answers -> drop_number (operation unknown: None); one span -> drop_span; several ->
    drop_spans. Spans are searched in the passage, then in the question; a span found in neither,
    an empty answer, or a date that is not written in the passage is skipped and counted."""
    data = load_json(path)
    path = Path(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level: expected an object of passage_id -> passage, got {type(data).__name__}")
    skips = Skips("read_drop", path)
    out: list[Example] = []
    for pid, entry in data.items():
        where_p = f"[{pid!r}]"
        passage = require(entry, "passage", str, path, where_p)
        for i, qa in enumerate(require(entry, "qa_pairs", list, path, where_p)):
            where = f"{where_p}.qa_pairs[{i}]"
            question = require(qa, "question", str, path, where)
            answer = require(qa, "answer", dict, path, where)
            qid = str(qa.get("query_id") or f"{pid}-{i}")
            ex = _example(qid, passage, question, answer, path, f"{where}.answer", skips)
            if ex is not None:
                ex.extra["passage_id"] = pid
                out.append(ex)
    skips.report(len(out), stats)
    return out


def _example(qid: str, passage: str, question: str, answer: dict, path: Path, where: str, skips: Skips) -> Example | None:
    number = answer.get("number", "")
    spans = answer.get("spans", []) or []
    date = answer.get("date", {}) or {}
    if not isinstance(spans, list) or not all(isinstance(s, str) for s in spans):
        raise ValueError(f"{path}: {where}.spans: expected a list of strings, got {spans!r:.80}")
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
    if isinstance(date, dict) and any(str(v).strip() for v in date.values()):
        # No date head exists; a date written verbatim in the passage is still a span answer.
        span = _find_date(passage, date)
        if span is None:
            skips.add("date not in passage")
            return None
        return Example(task="drop_span", answer=span.text, answer_type="span", answer_spans=[span], **common)
    skips.add("empty answer")
    return None


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
