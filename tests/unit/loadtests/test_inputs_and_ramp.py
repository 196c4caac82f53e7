import random

import pytest

from loadtests.traffic import REALISTIC_CHARS, pad_passage, parse_stages, sample_requests, users_at, with_heads


def test_requests_mix_the_three_settings_at_realistic_lengths():
    requests = sample_requests(3)
    assert len(requests) == 9
    tasks = {r["task"] for r in requests}
    assert {"squad", "summarize"} & tasks and any(t.startswith("drop") for t in tasks) and any(t.startswith("hotpot") for t in tasks)
    for r in requests:
        passage = r["inputs"].get("context") or r["inputs"]["text"]
        assert len(passage) >= min(REALISTIC_CHARS.values())
    assert sample_requests(3) == requests  # the same seed gives the same load


def test_padding_keeps_the_answering_passage_first_and_whole():
    padded = pad_passage("The answer is here.", ["Other one.", "Other two.", "Other three."], 30, random.Random(0))
    assert padded.startswith("The answer is here. ") and len(padded) >= 30
    assert pad_passage("Long enough already.", ["x"], 5, random.Random(0)) == "Long enough already."


def test_with_heads_names_the_target_and_the_exact_others():
    body = with_heads({"task": "squad", "inputs": {"context": "c"}}, "span", ["yesno"])
    assert body == {"target_head": "span", "inputs": {"context": "c"}, "heads": ["yesno"]}


def test_ramp_stages_and_the_users_they_ask_for():
    stages = parse_stages("1:10,16:60,1:30")
    assert stages == [(1, 10.0), (16, 60.0), (1, 30.0)]
    assert [users_at(stages, t) for t in (0, 9.9, 10, 69.9, 70, 99.9)] == [1, 1, 16, 16, 1, 1]
    assert users_at(stages, 100) is None


@pytest.mark.parametrize("bad", ["16", "a:10", "4:0", "-1:5"])
def test_a_malformed_ramp_stage_names_itself(bad):
    with pytest.raises(ValueError, match="ramp stage"):
        parse_stages(f"1:10,{bad}")


def test_sample_requests_keep_to_the_checkpoints_tasks():
    """A checkpoint without the generative heads is sent only the tasks it serves, still a mix of
    the settings; asking for tasks no setting has says so."""
    tasks = {"squad", "hotpot_yesno", "drop_span"}
    bodies = sample_requests(6, tasks=tasks)
    assert {b["task"] for b in bodies} == tasks
    assert [b["task"] for b in bodies[:3]] != [bodies[0]["task"]] * 3
    with pytest.raises(ValueError, match="no sample request has one of the tasks"):
        sample_requests(3, tasks={"translate"})
