"""SQuAD v1.1 and v2.0 JSON -> "squad" examples (answer span = the first gold answer)."""
from __future__ import annotations

from pathlib import Path

from training.data.readers._common import Skips, find, load_json, require, sentence_around, sentence_bounds
from model.example import Example, Span

UNANSWERABLE = "unanswerable (SQuAD 2.0)"


def read_squad(path: str | Path, stats: dict | None = None) -> list[Example]:
    """Examples of task "squad" from a SQuAD v1.1 or v2.0 file.

    The answer span is the first gold answer; every gold answer text is kept in
    `extra["answers"]`, since the official metric takes the best over them. `evidence_spans` holds
    the sentence around the answer and `extra["sentence_spans"]` every sentence of the context as
    [start, end), for the analyses that ask which sentence a prediction follows, with
    `extra["answer_sentence"]` its index; a question whose paragraph has another question answered
    in another sentence gets that one as `steer_question` / `steer_sentence` / `steer_answer`.

    Skipped and counted in `stats["skipped"]`: a SQuAD 2.0 question marked `is_impossible` (as
    "unanswerable (SQuAD 2.0)": no head here answers "no answer", and its `plausible_answers` are
    by definition not answers), a question with no answer, and one whose answer text is neither at
    its answer_start nor anywhere in the context. The whole file is checked before any example is
    returned: a malformed entry raises a ValueError naming the file, the entry and what is wrong.
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
            sentences = [[s, e] for s, e in sentence_bounds(context)]
            first_of_paragraph = len(out)
            for q, qa in enumerate(require(para, "qas", list, path, where_p)):
                where_q = f"{where_p}.qas[{q}]"
                question = require(qa, "question", str, path, where_q)
                answers = _answers(qa, path, where_q)
                qid = str(qa.get("id", f"{path.stem}-{a}-{p}-{q}"))
                if _impossible(qa, path, where_q):
                    skips.add(UNANSWERABLE)
                    continue
                if not answers:
                    skips.add("no answer")
                    continue
                span = _locate(context, *answers[0])
                if span is None:
                    skips.add("answer not in context")
                    continue
                out.append(Example(
                    id=qid, setting="qa_summary", task="squad", context=context, question=question,
                    answer=span.text, answer_type="span", answer_spans=[span],
                    evidence_spans=[sentence_around(context, span)],
                    extra={"title": title, "answers": [text for text, _ in answers], "sentence_spans": sentences,
                           "answer_sentence": _sentence_of(sentences, span.start)},
                ))
            _pair_for_steering(out[first_of_paragraph:])
    skips.report(len(out), stats)
    return out


def _sentence_of(sentences: list[list[int]], offset: int) -> int:
    """The index of the sentence that holds `offset` (the last one that starts at or before it)."""
    return max([i for i, (start, _) in enumerate(sentences) if start <= offset] or [0])


def _pair_for_steering(paragraph: list[Example]) -> None:
    """Give each question of one paragraph a second question of the same paragraph whose answer
    stands in another sentence (the next such one, in file order), as the synthetic QA setting
    does: the summary finding asks whether that question moves the summary to its answer."""
    for i, example in enumerate(paragraph):
        others = paragraph[i + 1:] + paragraph[:i]
        steer = next((o for o in others if o.extra["answer_sentence"] != example.extra["answer_sentence"]), None)
        if steer is not None:
            example.extra |= {"steer_question": steer.question, "steer_sentence": steer.extra["answer_sentence"],
                              "steer_answer": steer.answer}


def _answers(qa: dict, path: Path, where: str) -> list[tuple[str, int]]:
    """(text, answer_start) of each gold answer, each checked."""
    out = []
    for i, answer in enumerate(require(qa, "answers", list, path, where)):
        text = require(answer, "text", str, path, f"{where}.answers[{i}]")
        start = require(answer, "answer_start", int, path, f"{where}.answers[{i}]")
        out.append((text, start))
    return out


def _impossible(qa: dict, path: Path, where: str) -> bool:
    flag = qa.get("is_impossible", False)
    if not isinstance(flag, bool):
        raise ValueError(f"{path}: {where}.is_impossible: expected true or false, got {flag!r:.40}")
    return flag


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
