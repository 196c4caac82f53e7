from loadtests.traffic import Catalog, Outcome, check_answer, check_item
from loadtests.results import is_degraded, messages_of

CATALOG = Catalog(heads=["span", "yesno", "number"], tasks={"squad": "span", "drop_number": "number"}, max_batch_items=4)


def answer(target: str, others: list[str], errors: list[str] = ()) -> dict:
    return {
        "target": {"head": target, "kind": "x", "output": {"text": "a"}},
        "non_target": [{"head": h, "kind": "x", "output": {}} for h in others],
        "errors": [{"head": h, "kind": "timeout", "message": "slow"} for h in errors],
    }


def test_a_complete_answer_passes():
    assert check_answer(200, answer("span", ["yesno", "number"]), {"task": "squad"}, CATALOG) == []


def test_a_head_listed_in_errors_counts_as_present():
    body = answer("number", ["span"], errors=["yesno"])
    assert check_answer(200, body, {"task": "drop_number"}, CATALOG) == []
    got = Outcome(status=200, body={**body, "degraded": True})
    assert is_degraded(got) and messages_of(got) == ["yesno: slow"]  # counted as degraded, not as failed


def test_a_silently_missing_head_fails():
    problems = check_answer(200, answer("span", ["yesno"]), {"task": "squad"}, CATALOG)
    assert problems == ["heads neither answered nor listed in errors[]: ['number']"]


def test_only_the_requested_heads_are_expected():
    assert check_item(answer("span", []), {"target_head": "span", "heads": []}, CATALOG) == []
    assert check_item(answer("span", []), {"target_head": "span", "heads": ["yesno"]}, CATALOG) != []


def test_wrong_or_missing_target_fails():
    assert "target head is 'span', expected 'number'" in check_answer(200, answer("span", ["yesno", "number"]), {"task": "drop_number"}, CATALOG)
    body = answer("span", ["yesno", "number"])
    del body["target"]["output"]
    assert check_answer(200, body, {"task": "squad"}, CATALOG) == ["no target output"]


def test_a_non_200_is_a_failure_whatever_the_body():
    assert check_answer(503, "Service Unavailable", {"task": "squad"}, CATALOG) == ["HTTP 503: Service Unavailable"]
    assert check_answer(200, "not json", {"task": "squad"}, CATALOG) == ["the answer is a str, not a JSON object"]


def test_batch_needs_one_checked_result_per_item():
    items = [{"task": "squad"}, {"task": "drop_number", "heads": []}]
    good = {"results": [answer("span", ["yesno", "number"]), answer("number", [])]}
    assert check_answer(200, good, {"items": items}, CATALOG) == []
    assert check_answer(200, {"results": good["results"][:1]}, {"items": items}, CATALOG) == ["1 results for 2 items"]
    bad = {"results": [answer("span", ["yesno"]), answer("number", [])]}
    assert check_answer(200, bad, {"items": items}, CATALOG) == ["item 0: heads neither answered nor listed in errors[]: ['number']"]


def test_catalog_reads_the_heads_endpoint():
    body = {"heads": [{"name": "span"}, {"name": "yesno"}], "tasks": {"squad": "span"}, "limits": {"max_batch_items": 6}}
    catalog = Catalog.from_heads_response(body)
    assert catalog.heads == ["span", "yesno"] and catalog.max_batch_items == 6
    assert catalog.expected_others({"task": "squad"}) == {"yesno"}
