"""qa_summary ground truth: answer inside its sentence, summary from a different sentence, steer
question about a third one, and no position shortcut."""
from __future__ import annotations

import re
from collections import Counter


def _examples(synthetic, task=None):
    out = synthetic("qa_summary", "train") + synthetic("qa_summary", "heldout")
    return [e for e in out if task is None or e.task == task]


def _sentences(context: str) -> list[str]:
    return re.split(r"(?<=\.) ", context)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def test_squad_answer_inside_its_sentence_and_away_from_summary_and_steer(synthetic):
    for ex in _examples(synthetic, "squad"):
        x = ex.extra
        (answer,), (evidence,) = ex.answer_spans, ex.evidence_spans
        assert evidence.start <= answer.start and answer.end <= evidence.end
        assert ex.answer == answer.text
        sents = _sentences(ex.context)
        assert sents[x["answer_sentence"]] == evidence.text
        assert len({x["answer_sentence"], x["summary_sentence"], x["steer_sentence"]}) == 3
        assert x["steer_answer"] in sents[x["steer_sentence"]]
        assert x["steer_question"] and x["steer_question"] != ex.question
        # The recorded sentence offsets cut the context into exactly those sentences.
        assert [ex.context[a:b] for a, b in x["sentence_spans"]] == sents
        # The reference summary compresses the key sentence, not the answer sentence.
        key = _words(sents[x["summary_sentence"]])
        assert set(_words(x["summary"])) <= set(key)


def test_summaries_are_compressions_of_the_key_sentence(synthetic):
    for ex in _examples(synthetic, "summarize"):
        (key,) = ex.evidence_spans
        assert ex.question == "" and ex.answer_type == "summary"
        assert _sentences(ex.context)[ex.extra["summary_sentence"]] == key.text
        summary, source = _words(ex.answer), _words(key.text)
        assert set(summary) <= set(source)
        assert 0.4 <= len(summary) / len(source) < 1.0


def test_sentences_are_distinct_facts(synthetic):
    for ex in _examples(synthetic)[:300]:
        sents = _sentences(ex.context)
        assert 4 <= len(sents) <= 7
        assert len(set(sents)) == len(sents)


def test_no_position_shortcut(synthetic):
    squad = _examples(synthetic, "squad")
    answer_pos = Counter(e.extra["answer_sentence"] for e in squad)
    summary_pos = Counter(e.extra["summary_sentence"] for e in _examples(synthetic))
    for positions in (answer_pos, summary_pos):
        assert len(positions) >= 3
        assert max(positions.values()) <= 0.35 * sum(positions.values())


def test_questions_and_key_sentences_vary(synthetic):
    squad = _examples(synthetic, "squad")
    assert len({e.template.rsplit(".", 1)[0] for e in squad}) >= 8
    assert len({e.template for e in _examples(synthetic, "summarize")}) == 5


EVENT_VERBS = ("opened", "announced", "launched", "unveiled", "signed", "won", "released")


def test_key_sentence_is_the_only_one_with_an_event_verb(synthetic):
    # The analysis (and a model) can find the summarised sentence by content, not by position.
    for ex in _examples(synthetic)[:400]:
        sents = _sentences(ex.context)
        with_event = [i for i, s in enumerate(sents) if set(_words(s)) & set(EVENT_VERBS)]
        assert with_event == [ex.extra["summary_sentence"]], (ex.context, with_event)
