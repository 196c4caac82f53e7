"""Each rule control on hand-made passages where the right spans are known: what it picks for
the span head (ranked), the multi-span head (its set) and the summary."""
from __future__ import annotations

from training.analysis.baselines import baselines, random_span_baseline
from training.analysis.heuristics import (first_year_or_country, last_sentence_numbers, question_sentence,
                                          question_sentence_numbers, random_spans, sentences)
from training.analysis.roles import MULTISPAN, SPAN, SUMMARY

GAME = ("The Bears hosted the Lions on Sunday. Kim Ross kicked a 40-yard field goal. "
        "The Bears scored 24 points in the first half. The Lions scored 17 points after the break. "
        "The game ended 31-20.")
HOW_MANY_MORE = "How many more points did the Bears score than the Lions?"
FILMS = ("Red Harbour: Red Harbour is a war film. It was shot in Spain. The film premiered in 1962.\n"
         "Blue Lake: Blue Lake is a comedy film from Canada. The film premiered in 1975.")


def texts(spans):
    return [s["text"] for s in spans]


def test_sentences_split_a_passage_and_leave_out_paragraph_titles():
    assert [GAME[a:b] for a, b in sentences(GAME)][:2] == ["The Bears hosted the Lions on Sunday.",
                                                             "Kim Ross kicked a 40-yard field goal."]
    assert [FILMS[a:b] for a, b in sentences(FILMS)] == [
        "Red Harbour is a war film.", "It was shot in Spain.", "The film premiered in 1962.",
        "Blue Lake is a comedy film from Canada.", "The film premiered in 1975."]
    # One line: a colon is not a title.
    one = "Note: the town was founded in 1285."
    assert [one[a:b] for a, b in sentences(one)] == [one]


def test_the_numbers_of_the_sentences_most_like_the_question():
    found = question_sentence_numbers(HOW_MANY_MORE, GAME)
    # "bears", "score(d)", "points" and "lions" pick the two scoring sentences, in the passage's order on a tie
    assert texts(found.ranked)[:2] == ["24", "17"]
    assert texts(found.chosen) == ["24", "17"]  # the two best sentences that have numbers
    assert set(texts(found.ranked)) == {"24", "17", "40", "31", "20"}  # the rest ranked after them


def test_the_numbers_of_the_last_sentence_that_has_any():
    assert texts(last_sentence_numbers(HOW_MANY_MORE, GAME).chosen) == ["31", "20"]
    assert texts(last_sentence_numbers("q", GAME + " What a day!").chosen) == ["31", "20"]
    assert last_sentence_numbers("q", "No numbers here.").chosen == []


def test_the_sentence_most_like_the_question():
    found = question_sentence("When did Blue Lake premiere?", FILMS)
    # "blue", "lake", "premi(ere)" -> the title sentence shares two, each premiere sentence one: the best is
    # Blue Lake's first sentence, then the premieres in passage order.
    assert texts(found.ranked)[:3] == ["Blue Lake is a comedy film from Canada.", "The film premiered in 1962.",
                                       "The film premiered in 1975."]
    assert texts(found.chosen) == ["Blue Lake is a comedy film from Canada."]


def test_the_first_years_and_countries_in_order():
    found = first_year_or_country("Was Red Harbour made before Blue Lake?", FILMS)
    assert texts(found.ranked) == ["Spain", "1962", "Canada", "1975"]
    assert texts(found.chosen) == ["Spain", "1962"]
    # Not a year: a count, a 5-digit number, a year inside a longer number; longer country names first.
    other = "It sold 12000 copies, 1,975 in Busan, South Korea, and 300 in 2101. In 1999 it closed."
    assert texts(first_year_or_country("q", other).ranked) == ["South Korea", "1999"]


def test_random_spans_have_the_length_asked_for_do_not_overlap_and_are_seeded():
    drawn = random_spans(GAME, length=3, count=4, seed="a")
    assert len(drawn) == 4 and all(len(s["text"].replace("-", " ").split()) == 3 for s in drawn)
    ordered = sorted((s["start"], s["end"]) for s in drawn)
    assert all(a[1] <= b[0] for a, b in zip(ordered, ordered[1:]))
    assert drawn == random_spans(GAME, length=3, count=4, seed="a")
    assert drawn != random_spans(GAME, length=3, count=4, seed="b")
    assert texts(random_spans("one two", length=5, count=3, seed="a")) == ["one two"]  # capped at the passage


def test_every_rule_answers_every_head_from_one_extraction():
    by_name = {b.name: b for b in baselines()}
    row = by_name["question's sentences' numbers"].predict([HOW_MANY_MORE], [GAME], [SPAN, MULTISPAN, SUMMARY])[0]
    assert row[SPAN]["text"] == "24" and texts(row[SPAN]["alternatives"])[0] == "17"
    assert texts(row[MULTISPAN]["spans"]) == ["24", "17"] and row[SUMMARY]["text"] == "24 17"
    summary = by_name["question's sentence"].predict(["Which country was it shot in?"], [FILMS], [SUMMARY])[0]
    assert summary[SUMMARY]["text"] == "It was shot in Spain."
    # Names count as much as the verb: "Red Harbour" outweighs "shot".
    named = by_name["question's sentence"].predict(["Where was Red Harbour shot?"], [FILMS], [SUMMARY])[0]
    assert named[SUMMARY]["text"] == "Red Harbour is a war film."


def test_the_random_span_control_matches_the_lengths_it_is_given():
    control = random_span_baseline({SPAN: 2, SUMMARY: 6}, {SPAN: 3}, seed=0)
    assert control.has(SPAN) and not control.has(MULTISPAN)  # no multi-span head to match
    row = control.predict([HOW_MANY_MORE], [GAME], [SPAN, SUMMARY])[0]
    assert len(row[SPAN]["alternatives"]) == 2 and len(row[SPAN]["text"].split()) == 2
    assert len(row[SUMMARY]["text"].replace("-", " ").split()) == 6
    # The draw depends on the input, not on what else is in the batch.
    alone = control.predict([HOW_MANY_MORE], [GAME], [SPAN])[0][SPAN]
    batched = control.predict(["q", HOW_MANY_MORE], [FILMS, GAME], [SPAN])[1][SPAN]
    assert alone == batched
