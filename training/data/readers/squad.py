"""SQuAD v1.1 JSON -> "squad" examples (answer span = the first gold answer)."""
from __future__ import annotations

from pathlib import Path

from training.data.readers._common import Skips, find, load_json, require, sentence_around
from model.example import Example, Span


def read_squad(path: str | Path, stats: dict | None = None) -> list[Example]:
    """Examples of task "squad"; evidence_spans holds the sentence around the answer.

    A question whose answer text is not at its answer_start (nor anywhere in the context) or that
    has no answer (SQuAD 2.0 style) is skipped and counted in `stats["skipped"]`.
    """
    data = load_json(path)
    path = Path(path)
    skips = Skips("read_squad", path)
    out: list[Example] = []
    for a, article in enumerate(require(data, "data", list, path, "top level")):
        where_a = f"data[{a}]"
        title = article.get("title", "") if isinstance(article, dict) else ""
        for p, para in enumerate(require(article, "paragraphs", list, path, where_a)):
            where_p = f"{where_a}.paragraphs[{p}]"
            context = require(para, "context", str, path, where_p)
            for q, qa in enumerate(require(para, "qas", list, path, where_p)):
                where_q = f"{where_p}.qas[{q}]"
                question = require(qa, "question", str, path, where_q)
                answers = require(qa, "answers", list, path, where_q)
                qid = str(qa.get("id", f"{path.stem}-{a}-{p}-{q}"))
                if not answers:
                    skips.add("no answer")
                    continue
                first = answers[0]
                text = require(first, "text", str, path, f"{where_q}.answers[0]")
                start = require(first, "answer_start", int, path, f"{where_q}.answers[0]")
                span = _locate(context, text, start)
                if span is None:
                    skips.add("answer not in context")
                    continue
                out.append(Example(
                    id=qid, setting="qa_summary", task="squad", context=context, question=question,
                    answer=span.text, answer_type="span", answer_spans=[span],
                    evidence_spans=[sentence_around(context, span)],
                    extra={"title": title, "answers": [x.get("text") for x in answers if isinstance(x, dict)]},
                ))
    skips.report(len(out), stats)
    return out


def _locate(context: str, text: str, start: int) -> Span | None:
    if context[start : start + len(text)] == text and text:
        return Span(start, start + len(text), text)
    # Some files carry offsets that are off by a few characters; the nearest occurrence is the answer.
    best = None
    pos = context.find(text) if text else -1
    while pos >= 0:
        if best is None or abs(pos - start) < abs(best - start):
            best = pos
        pos = context.find(text, pos + 1)
    if best is not None:
        return Span(best, best + len(text), text)
    return find(context, text)
