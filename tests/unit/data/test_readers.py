"""Readers on tiny files in the real formats, written here; malformed files name file and place."""
from __future__ import annotations

import json

import pytest

from training.data.readers import read_cnndm, read_drop, read_hotpot, read_squad


def _write(tmp_path, name, obj):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


SQUAD = {
    "version": "1.1",
    "data": [{
        "title": "Ashford",
        "paragraphs": [{
            "context": "Ashford is a town in Kent. It was founded in 1204 by Hugo Reed. The mill opened in 1850.",
            "qas": [
                {"id": "q1", "question": "Who founded Ashford?", "answers": [{"text": "Hugo Reed", "answer_start": 53}]},
                # offset off by two: the nearest occurrence is used
                {"id": "q2", "question": "When did the mill open?", "answers": [{"text": "1850", "answer_start": 82}]},
                {"id": "q3", "question": "Where is it?", "answers": [{"text": "Sussex", "answer_start": 3}]},
            ],
        }],
    }],
}


def test_squad(tmp_path):
    stats: dict = {}
    examples = read_squad(_write(tmp_path, "squad.json", SQUAD), stats=stats)
    assert [e.id for e in examples] == ["q1", "q2"]
    q1, q2 = examples
    assert q1.task == "squad" and q1.setting == "qa_summary" and q1.answer == "Hugo Reed"
    assert q1.context[q1.answer_spans[0].start : q1.answer_spans[0].end] == "Hugo Reed"
    assert q1.evidence_spans[0].text == "It was founded in 1204 by Hugo Reed."
    assert q2.answer_spans[0].start == q2.context.index("1850")
    assert q2.evidence_spans[0].text == "The mill opened in 1850."
    assert stats == {"kept": 2, "skipped": {"answer not in context": 1}}


def test_squad_malformed_names_the_entry(tmp_path):
    bad = json.loads(json.dumps(SQUAD))
    del bad["data"][0]["paragraphs"][0]["qas"][2]["answers"]
    path = _write(tmp_path, "bad_squad.json", bad)
    with pytest.raises(ValueError, match=r"bad_squad\.json: data\[0\]\.paragraphs\[0\]\.qas\[2\]: missing 'answers'"):
        read_squad(path)


def test_squad_invalid_json_names_the_line(tmp_path):
    path = _write(tmp_path, "broken.json", '{"data": [\n  {"title": "x",\n  "paragraphs": [}\n]}')
    with pytest.raises(ValueError, match=r"broken\.json: line 3"):
        read_squad(path)


def test_missing_files(tmp_path):
    for reader in (read_squad, read_drop, read_hotpot, read_cnndm):
        with pytest.raises(FileNotFoundError, match="nothere"):
            reader(tmp_path / "nothere.json")


DROP = {
    "nfl_1": {
        "passage": "The Bears beat the Hawks 24-17. John Smith kicked a 45-yard field goal. Tom Lee ran 12 yards.",
        "qa_pairs": [
            {"question": "How many points did the Bears win by?", "query_id": "d1",
             "answer": {"number": "7", "spans": [], "date": {"day": "", "month": "", "year": ""}}},
            {"question": "Who kicked the field goal?", "query_id": "d2",
             "answer": {"number": "", "spans": ["John Smith"], "date": {"day": "", "month": "", "year": ""}}},
            {"question": "Which players scored?", "query_id": "d3",
             "answer": {"number": "", "spans": ["John Smith", "Tom Lee"], "date": {"day": "", "month": "", "year": ""}}},
            {"question": "Who won, the Bears or the Lions?", "query_id": "d4",
             "answer": {"number": "", "spans": ["the Lions"], "date": {"day": "", "month": "", "year": ""}}},
            {"question": "Who lost?", "query_id": "d5",
             "answer": {"number": "", "spans": ["the Jets"], "date": {"day": "", "month": "", "year": ""}}},
            {"question": "When?", "query_id": "d6",
             "answer": {"number": "", "spans": [], "date": {"day": "3", "month": "May", "year": "1990"}}},
        ],
    }
}


def test_drop(tmp_path):
    stats: dict = {}
    examples = {e.id: e for e in read_drop(_write(tmp_path, "drop.json", DROP), stats=stats)}
    assert set(examples) == {"d1", "d2", "d3", "d4"}
    assert examples["d1"].task == "drop_number" and examples["d1"].answer == "7"
    assert examples["d2"].task == "drop_span" and examples["d2"].answer_spans[0].text == "John Smith"
    d3 = examples["d3"]
    assert d3.task == "drop_spans" and [s.text for s in d3.answer_spans] == ["John Smith", "Tom Lee"]
    d4 = examples["d4"].answer_spans[0]
    assert d4.field == "question" and examples["d4"].question[d4.start : d4.end] == "the Lions"
    assert examples["d1"].extra["passage_id"] == "nfl_1"
    assert stats["skipped"] == {"span not found": 1, "date not in passage": 1}


def test_drop_malformed_names_the_entry(tmp_path):
    bad = json.loads(json.dumps(DROP))
    del bad["nfl_1"]["qa_pairs"][1]["answer"]
    with pytest.raises(ValueError, match=r"bad_drop\.json: \['nfl_1'\]\.qa_pairs\[1\]: missing 'answer'"):
        read_drop(_write(tmp_path, "bad_drop.json", bad))


HOTPOT = [
    {
        "_id": "h1", "question": "Were Ann Lee and Bo Kim born in the same country?", "answer": "no",
        "supporting_facts": [["Ann Lee", 1], ["Bo Kim", 0]],
        "context": [["Ann Lee", ["Ann Lee is a poet.", " She was born in Lyon, France."]],
                    ["Bo Kim", ["Bo Kim was born in Busan, South Korea.", " He paints."]]],
    },
    {
        "_id": "h2", "question": "Where was the director of Winter Lights born?", "answer": "Busan",
        "supporting_facts": [["Winter Lights", 1], ["Bo Kim", 0], ["Bo Kim", 7]],
        "context": [["Winter Lights", ["Winter Lights is a film.", " It was directed by Bo Kim."]],
                    ["Bo Kim", ["Bo Kim was born in Busan, South Korea.", " He paints."]]],
    },
    {
        "_id": "h3", "question": "Which city?", "answer": "Paris",
        "supporting_facts": [["Bo Kim", 0]],
        "context": [["Bo Kim", ["Bo Kim was born in Busan."]]],
    },
]


def test_hotpot(tmp_path):
    stats: dict = {}
    examples = read_hotpot(_write(tmp_path, "hotpot.json", HOTPOT), stats=stats)
    h1, h2 = examples
    assert h1.task == "hotpot_yesno" and h1.answer == h1.answer_type == "no"
    assert h1.context.splitlines()[0] == "Ann Lee: Ann Lee is a poet. She was born in Lyon, France."
    assert [e.text for e in h1.evidence_spans] == ["She was born in Lyon, France.", "Bo Kim was born in Busan, South Korea."]
    assert h2.task == "hotpot_span" and h2.answer == "Busan"
    ans = h2.answer_spans[0]
    assert h2.evidence_spans[1].start <= ans.start < h2.evidence_spans[1].end  # found in the supporting sentence
    assert stats == {"kept": 2, "skipped": {"supporting fact out of range": 1, "answer not in context": 1}}


def test_hotpot_malformed_names_the_entry(tmp_path):
    bad = json.loads(json.dumps(HOTPOT))
    bad[1]["context"][1] = ["Bo Kim", "not a list"]
    with pytest.raises(ValueError, match=r"bad_hotpot\.json: \[1\]\.context\[1\]: expected \[title, \[sentences\]\]"):
        read_hotpot(_write(tmp_path, "bad_hotpot.json", bad))


def test_cnndm(tmp_path):
    lines = [
        json.dumps({"id": "a1", "article": "Acme opened a plant on Monday. It cost a lot.", "highlights": "Acme opened a plant."}),
        "",
        json.dumps({"article": "Rain fell. Roads closed.", "highlights": "Roads closed after rain.\n"}),
    ]
    examples = read_cnndm(_write(tmp_path, "cnndm.jsonl", "\n".join(lines) + "\n"))
    assert [e.id for e in examples] == ["a1", "cnndm-3"]
    assert all(e.task == "summarize" and e.answer_type == "summary" and e.question == "" for e in examples)
    assert examples[1].answer == "Roads closed after rain."


def test_cnndm_malformed_names_the_line(tmp_path):
    lines = [json.dumps({"article": "A.", "highlights": "B."}), json.dumps({"article": "A."}), "{oops"]
    path = _write(tmp_path, "bad.jsonl", "\n".join(lines))
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: 'highlights' must be a non-empty string"):
        read_cnndm(path)
    path.write_text("\n".join([lines[0], "{oops"]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not valid JSON"):
        read_cnndm(path)


# --- every layout, and what is refused ---


def test_hotpot_hugging_face_layout_with_and_without_ids(tmp_path):
    official = HOTPOT[0]
    hf = {
        "question": official["question"], "answer": official["answer"], "type": "comparison", "level": "easy",
        "supporting_facts": {"title": ["Ann Lee", "Bo Kim"], "sent_id": [1, 0]},
        "context": {"title": [p[0] for p in official["context"]], "sentences": [p[1] for p in official["context"]]},
    }
    # one file may mix the layouts: each record is read by the shape of its context
    records = [hf, dict(hf, id="hf-7"), official]
    first, second, third = read_hotpot(_write(tmp_path, "mixed.json", records))
    assert (first.id, second.id, third.id) == ("mixed-0", "hf-7", "h1")  # no id: file stem and index
    assert first.context == third.context
    assert first.evidence_spans == third.evidence_spans
    assert first.extra["supporting_facts"] == [["Ann Lee", 1], ["Bo Kim", 0]]
    assert [e.id for e in read_hotpot(tmp_path / "mixed.json")] == ["mixed-0", "hf-7", "h1"]  # stable


@pytest.mark.parametrize("change, message", [
    (lambda r: r["context"]["sentences"].pop(), r"\[0\]\.context: 'title' has 2 entries and 'sentences' 1"),
    (lambda r: r["supporting_facts"]["sent_id"].__setitem__(0, "1"), r"\[0\]\.supporting_facts: entry 0: expected a title"),
    (lambda r: r["context"]["sentences"][1].append(3), r"\[0\]\.context\.sentences\[1\]\[1\]: expected a sentence string"),
    (lambda r: r["supporting_facts"].pop("title"), r"\[0\]\.supporting_facts: missing 'title'"),
])
def test_hotpot_hugging_face_malformed_names_the_entry(tmp_path, change, message):
    record = {"question": "q?", "answer": "yes",
              "supporting_facts": {"title": ["A"], "sent_id": [0]},
              "context": {"title": ["A", "B"], "sentences": [["A is a.", " A too."], ["B is b."]]}}
    change(record)
    with pytest.raises(ValueError, match=r"bad_hf\.json: " + message):
        read_hotpot(_write(tmp_path, "bad_hf.json", [record]))


SQUAD2 = {
    "version": "v2.0",
    "data": [{
        "title": "Ashford",
        "paragraphs": [{
            "context": "Ashford is a town in Kent. It was founded in 1204 by Hugo Reed.",
            "qas": [
                {"id": "a1", "question": "Who founded Ashford?", "is_impossible": False,
                 "answers": [{"text": "Hugo Reed", "answer_start": 53}, {"text": "by Hugo Reed", "answer_start": 50}]},
                {"id": "a2", "question": "Who destroyed Ashford?", "is_impossible": True, "answers": [],
                 "plausible_answers": [{"text": "Hugo Reed", "answer_start": 53}]},
            ],
        }],
    }],
}


def test_squad_v2_skips_unanswerable_and_keeps_every_answer(tmp_path):
    stats: dict = {}
    (a1,) = read_squad(_write(tmp_path, "squad2.json", SQUAD2), stats=stats)
    assert a1.id == "a1" and a1.answer == "Hugo Reed"
    assert a1.extra["answers"] == ["Hugo Reed", "by Hugo Reed"]  # evaluation takes the best of them
    assert stats == {"kept": 1, "skipped": {"unanswerable (SQuAD 2.0)": 1}}
    # every sentence of the context as [start, end), for the analyses that ask which one a summary follows
    assert [a1.context[s:e] for s, e in a1.extra["sentence_spans"]] == [
        "Ashford is a town in Kent.", "It was founded in 1204 by Hugo Reed."]


def test_squad_v2_malformed_names_the_entry(tmp_path):
    bad = json.loads(json.dumps(SQUAD2))
    bad["data"][0]["paragraphs"][0]["qas"][1]["is_impossible"] = "yes"
    with pytest.raises(ValueError, match=r"bad2\.json: data\[0\]\.paragraphs\[0\]\.qas\[1\]\.is_impossible: expected true or false"):
        read_squad(_write(tmp_path, "bad2.json", bad))
    bad = json.loads(json.dumps(SQUAD2))
    del bad["data"][0]["paragraphs"][0]["qas"][0]["answers"][1]["answer_start"]
    with pytest.raises(ValueError, match=r"bad2\.json: data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers\[1\]: missing 'answer_start'"):
        read_squad(_write(tmp_path, "bad2.json", bad))


@pytest.mark.parametrize("reader, good, bad_last", [
    (read_squad, SQUAD, lambda d: d["data"][0]["paragraphs"].append({"context": "x", "qas": [{"question": "q"}]})),
    (read_drop, DROP, lambda d: d.update(last={"passage": "x", "qa_pairs": [{"question": "q"}]})),
    (read_hotpot, HOTPOT, lambda d: d.append({"question": "q", "answer": "a", "context": 3})),
])
def test_a_bad_last_record_refuses_the_whole_file(tmp_path, reader, good, bad_last):
    # the good records come first: the reader must not hand them back and stop at the bad one
    data = json.loads(json.dumps(good))
    bad_last(data)
    with pytest.raises(ValueError, match=r"last\.json: "):
        reader(_write(tmp_path, "last.json", data))


def _qa(qid, question, number="", spans=(), validated=None):
    qa = {"question": question, "query_id": qid,
          "answer": {"number": number, "spans": list(spans), "date": {"day": "", "month": "", "year": ""}}}
    if validated is not None:
        qa["validated_answers"] = validated
    return qa


def test_drop_argument_spans(tmp_path):
    passage = "The Bears beat the Hawks 24-17. John Smith kicked a 45-yard field goal and the 49ers kicked 3. Tom Lee ran 12 yards."
    data = {"p": {"passage": passage, "qa_pairs": [
        # 24 - 17: the only pair of 24, 17, 45, 3, 12 that gives 7, and 7 is not written in the passage
        _qa("diff", "How many points did the Bears win by?", "7"),
        # 45 + 12 (45 - 12 = 33, 24 + 17 = 41: no other pair gives 57)
        _qa("sum", "How many yards did Smith and Lee gain combined?", "57"),
        # 45 stands in the passage; no pair gives it: a lookup, not a computation
        _qa("lookup", "How many yards was the field goal?", "45"),
        # a count: 5 = 17 - 12 is a coincidence the wording rules out
        _qa("count", "How many field goals did Smith kick?", "5"),
        # "49ers" names a team: 49 - 45 = 4 must not be found
        _qa("glued", "How many yards separated them?", "4"),
    ]}, "q": {"passage": "Lee ran 10, 20 and 30 yards.", "qa_pairs": [
        # 20 - 10 and 30 - 20 both give 10, which also stands in the passage
        _qa("ambiguous", "How many yards longer was the second run than the first?", "10"),
    ]}}
    examples = {e.id: e for e in read_drop(_write(tmp_path, "drop_args.json", data))}
    diff = examples["diff"]
    assert [s.text for s in diff.argument_spans] == ["24", "17"]  # in the order subtracted
    assert diff.argument_spans[0].start == passage.index("24-17")
    assert diff.extra["operation"] == "difference" and diff.extra["ambiguous"] is False
    assert [s.text for s in examples["sum"].argument_spans] == ["45", "12"]  # in passage order
    assert examples["sum"].extra["operation"] == "sum"
    ambiguous = examples["ambiguous"]
    assert ambiguous.argument_spans == [] and ambiguous.extra["ambiguous"] is True
    assert ambiguous.extra["argument_pairs"] > 1
    assert examples["lookup"].argument_spans == [] and examples["lookup"].extra["operation"] is None
    assert examples["count"].argument_spans == [] and examples["count"].extra["operation"] == "count"
    assert examples["glued"].argument_spans == [] and examples["glued"].extra["operation"] is None
    assert all(e.operation is None for e in examples.values())  # the decoder's target stays the number


def test_drop_keeps_every_gold_answer_as_the_official_script_writes_it(tmp_path):
    validated = [{"number": "", "spans": ["Smith", "Lee"], "date": {"day": "", "month": "", "year": ""}},
                 {"number": "", "spans": [], "date": {"day": "3", "month": "May", "year": "1990"}},
                 {"number": "", "spans": [], "date": {"day": "", "month": "", "year": ""}}]  # blank: not counted
    data = {"p": {"passage": "John Smith and Tom Lee scored on 3 May 1990.", "qa_pairs": [
        _qa("q", "Who scored?", spans=["John Smith", "Tom Lee"], validated=validated)]}}
    (ex,) = read_drop(_write(tmp_path, "drop_gold.json", data))
    assert ex.extra["answers"] == [["John Smith", "Tom Lee"], ["Smith", "Lee"], ["3 May 1990"]]
    data["p"]["qa_pairs"][0]["validated_answers"] = [{"spans": "Smith"}]
    with pytest.raises(ValueError, match=r"drop_gold\.json: \['p'\]\.qa_pairs\[0\]\.validated_answers\[0\]\.spans: expected a list"):
        read_drop(_write(tmp_path, "drop_gold.json", data))


def test_squad_pairs_each_question_with_one_answered_in_another_sentence(tmp_path):
    context = "Ghent has a belfry. Its bells were cast in 1659. The river Leie flows through it."
    qas = [{"id": "a", "question": "When were the bells cast?", "answers": [{"text": "1659", "answer_start": context.index("1659")}]},
           {"id": "b", "question": "What year are the bells from?", "answers": [{"text": "1659", "answer_start": context.index("1659")}]},
           {"id": "c", "question": "Which river flows through Ghent?", "answers": [{"text": "Leie", "answer_start": context.index("Leie")}]}]
    path = _write(tmp_path, "pairs.json", {"data": [{"title": "Ghent", "paragraphs": [{"context": context, "qas": qas}]}]})
    a, b, c = read_squad(path)
    assert [e.extra["answer_sentence"] for e in (a, b, c)] == [1, 1, 2]
    assert (a.extra["steer_question"], a.extra["steer_sentence"], a.extra["steer_answer"]) == (c.question, 2, "Leie")
    assert b.extra["steer_answer"] == "Leie" and c.extra["steer_answer"] == "1659" and c.extra["steer_sentence"] == 1
