"""The router's logic over fake stages: no Ray, no model."""
from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from service.pipeline.failures import StageError
from service.pipeline.metrics import NullMetrics
from service.pipeline.predict import Predictor
from service.http.router import create_api
from service.deploy.settings import Limits, Timeouts
from tests.unit.service.fakes import KINDS, TASKS, FakeEngine, make_catalog

QUESTION = "How many points did the Stallions win by?"
CONTEXT = "Stallions won 24 to 20 against the Rangers."


def client_for(engine: FakeEngine | None = None, colocated: tuple[str, ...] = (), limits: Limits | None = None,
               timeouts: Timeouts | None = None) -> tuple[TestClient, FakeEngine]:
    catalog = make_catalog(colocated)
    engine = engine or FakeEngine(catalog)
    engine.catalog = catalog
    predictor = Predictor(engine, catalog, timeouts or Timeouts(non_target_head_s=0.2, target_head_s=0.3))
    api = create_api(predictor, catalog, limits or Limits(max_body_bytes=4096, max_batch_items=3, max_field_chars=1000), retry_after_s=2)
    return TestClient(api, raise_server_exceptions=False), engine


def predict(client: TestClient, **body):
    body.setdefault("inputs", {"question": QUESTION, "context": CONTEXT})
    return client.post("/v1/predict", json=body)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_target_follows_the_task_and_every_other_head_is_non_target(task):
    client, _ = client_for()
    r = predict(client, task=task)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["target"]["head"] == TASKS[task]
    assert body["target"]["kind"] == KINDS[TASKS[task]]
    assert sorted(o["head"] for o in body["non_target"]) == sorted(set(KINDS) - {TASKS[task]})
    assert body["errors"] == [] and body["degraded"] is False
    assert body["checkpoint"] == {"name": "fake", "hash": "0123456789abcdef"}
    assert body["request_id"]


@pytest.mark.parametrize("colocated", [(), ("answer_type", "yesno"), tuple(KINDS)])
def test_the_backbone_runs_once_whatever_the_heads_and_placement(colocated):
    client, engine = client_for(colocated=colocated)
    r = predict(client, task="drop_number")
    assert r.status_code == 200
    assert len(engine.encode_calls) == 1
    call = engine.encode_calls[0]
    assert sorted(c.head for c in call.colocated) == sorted(colocated)
    replica_heads = sorted(h for h, _ in engine.head_calls)
    assert replica_heads == sorted(set(KINDS) - set(colocated))
    # the heads share one stored copy: every head call carries the reference the backbone returned
    assert len({id(c.hidden.ref) for _, c in engine.head_calls}) <= 1
    assert call.keep_hidden == bool(set(KINDS) - set(colocated))
    # colocated or not, the response has the same shape
    assert len(r.json()["non_target"]) == len(KINDS) - 1


def test_target_head_can_be_named_and_heads_restricted():
    client, engine = client_for()
    r = predict(client, target_head="summary", heads=["span"])
    assert r.status_code == 200
    body = r.json()
    assert body["target"]["head"] == "summary" and body["task"] is None
    assert [o["head"] for o in body["non_target"]] == ["span"]
    assert sorted(h for h, _ in engine.head_calls) == ["span", "summary"]
    r = predict(client, task="squad", heads=[])
    assert r.json()["non_target"] == []


def test_span_outputs_carry_character_offsets_into_the_passage_and_name_its_field():
    client, _ = client_for()
    body = predict(client, task="squad").json()
    span = body["target"]["output"]
    assert CONTEXT[span["start"]:span["end"]] == span["text"] and span["field"] == "context"
    body = predict(client, task="squad", inputs={"text": CONTEXT}).json()
    assert body["target"]["output"]["field"] == "text"
    assert body["target"]["output"]["alternatives"][0]["field"] == "text"
    assert body["input"]["passage_field"] == "text"


def test_long_inputs_are_windowed_and_the_response_says_so():
    client, engine = client_for(FakeEngine(make_catalog(), windows=3))
    body = predict(client, task="squad").json()
    assert body["input"] == {"windows": 3, "windowed": True, "question_truncated": False, "passage_field": "context"}


def test_explanation_lists_the_spans_behind_a_label():
    client, _ = client_for()
    body = predict(client, task="hotpot_yesno").json()
    assert body["explanation"]["kind"] == "evidence"
    # The fake span and tagging heads both point at the first word: listed once; the span head's
    # alternatives are not evidence (only what the heads extracted is).
    context = body["explanation"]["arguments"]
    assert [(e["head"], e["start"], e["end"]) for e in context] == [("span", 0, 9)]
    assert predict(client, task="squad").json()["explanation"] is None


def test_batch_reaches_the_backbone_as_one_call_and_each_head_once():
    client, engine = client_for()
    items = [{"task": "squad", "inputs": {"question": "Who?", "context": "Ann wrote it."}},
             {"task": "drop_number", "inputs": {"question": QUESTION, "context": CONTEXT}},
             {"task": "summarize", "inputs": {"text": "A long story."}, "heads": []}]
    r = client.post("/v1/predict/batch", json={"items": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["target"]["head"] for x in results] == ["span", "number", "summary"]
    assert results[2]["non_target"] == []
    assert len(engine.encode_calls) == 1 and len(engine.encode_calls[0].contexts) == 3
    calls = {h: c for h, c in engine.head_calls}
    assert len(engine.head_calls) == len(calls)  # one call per head
    assert calls["summary"].inputs == [0, 1, 2] and calls["span"].inputs == [0, 1]


def test_batch_splits_generative_calls_by_options_only():
    client, engine = client_for()
    items = [{"task": "drop_number", "inputs": {"context": "a b"}, "options": {"max_new_tokens": 4}},
             {"task": "drop_number", "inputs": {"context": "c d"}}]
    assert client.post("/v1/predict/batch", json={"items": items}).status_code == 200
    counts: dict[str, int] = {}
    for head, _ in engine.head_calls:
        counts[head] = counts.get(head, 0) + 1
    assert counts["number"] == 2 and counts["summary"] == 2 and counts["span"] == 1


@pytest.mark.parametrize("failure, kind", [("error", "failed"), ("hang", "timeout"),
                                           (StageError("head_multispan", "overloaded", "its queue is full"), "overloaded")])
def test_a_failing_non_target_head_is_reported_and_the_answer_still_goes_out(failure, kind):
    client, _ = client_for(FakeEngine(make_catalog(), failures={"multispan": failure}))
    r = predict(client, task="squad")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["target"]["head"] == "span" and body["target"]["output"]["text"]
    assert body["degraded"] is True
    assert [(e["head"], e["kind"]) for e in body["errors"]] == [("multispan", kind)]
    assert "multispan" not in {o["head"] for o in body["non_target"]}


def test_a_failing_colocated_head_is_reported_the_same_way():
    client, _ = client_for(FakeEngine(make_catalog(), failures={"yesno": "error"}), colocated=("yesno",))
    body = predict(client, task="squad").json()
    assert [(e["head"], e["kind"]) for e in body["errors"]] == [("yesno", "failed")]


@pytest.mark.parametrize("failure, status", [("error", 502), ("hang", 504),
                                             (StageError("head_number", "overloaded", "its queue is full", 1), 503)])
def test_a_failing_target_head_fails_the_request_with_the_reason(failure, status):
    client, _ = client_for(FakeEngine(make_catalog(), failures={"number": failure}))
    r = predict(client, task="drop_number")
    assert r.status_code == status
    error = r.json()["error"]
    assert "target head 'number'" in error["message"] and error["request_id"]
    assert ("Retry-After" in r.headers) == (status == 503)


def test_backbone_overload_is_a_503_with_retry_after():
    engine = FakeEngine(make_catalog(), backbone_failure=StageError("backbone", "overloaded", "its queue is full", 1))
    client, _ = client_for(engine)
    r = predict(client, task="squad")
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert "backbone overloaded" in r.json()["error"]["message"]


def test_an_unexpected_exception_is_a_500_without_internals_and_is_logged(caplog):
    client, _ = client_for(FakeEngine(make_catalog(), failures={"span": "crash"}))
    with caplog.at_level(logging.ERROR, logger="wiyh.service"):
        r = predict(client, task="squad")
    assert r.status_code == 500
    body = r.json()
    assert "secret" not in r.text and body["error"]["code"] == "internal"
    assert body["error"]["request_id"] in caplog.text


BAD = [
    ("not json", None, 400, "not valid JSON"),
    (None, [1, 2], 422, "Input should be a valid dictionary"),
    (None, {"inputs": {"context": "x"}}, 422, "exactly one of `task` or `target_head`"),
    (None, {"task": "squad", "target_head": "span", "inputs": {"context": "x"}}, 422, "exactly one of"),
    (None, {"task": "squad"}, 422, "inputs: required field is missing"),
    (None, {"task": "squad", "inputs": {"question": "q"}}, 422, "needs `context`"),
    (None, {"task": "squad", "inputs": {"context": "   "}}, 422, "inputs.context is empty"),
    (None, {"task": "squad", "inputs": {"question": "", "context": "x"}}, 422, "inputs.question is empty"),
    (None, {"task": "squad", "inputs": {"context": "x", "text": "y"}}, 422, "send only one"),
    (None, {"task": "squad", "inputs": {"context": 42}}, 422, "inputs.context: Input should be a valid string, got int 42"),
    (None, {"task": 7, "inputs": {"context": "x"}}, 422, "task: Input should be a valid string"),
    (None, {"task": "squad", "inputs": {"context": "x"}, "heads": "span"}, 422, "heads: Input should be a valid list"),
    (None, {"task": "squad", "inputs": {"context": "x"}, "options": {"max_new_tokens": 0}}, 422, "options.max_new_tokens"),
    (None, {"task": "squad", "inputs": {"context": "x"}, "options": {"max_new_tokens": 999}}, 422, "above the limit 64"),
    (None, {"task": "squad", "inputs": {"context": "x"}, "heds": ["span"]}, 422, "heds: unknown field"),
    (None, {"task": "squid", "inputs": {"context": "x"}}, 422,
     "task: unknown task 'squid'; valid tasks: ['drop_number', 'drop_span', 'drop_spans', 'hotpot_span', 'hotpot_yesno', 'squad', 'summarize']"),
    (None, {"target_head": "spam", "inputs": {"context": "x"}}, 422, "target_head: unknown head(s) ['spam']; valid heads: ['answer_type'"),
    (None, {"task": "squad", "inputs": {"context": "x"}, "heads": ["span", "nope"]}, 422, "heads: unknown head(s) ['nope']"),
    (None, {"task": "squad", "inputs": {"context": "x" * 1001}}, 422, "inputs.context has 1001 characters; the limit is 1000"),
]


@pytest.mark.parametrize("raw, body, status, message", BAD)
def test_bad_input_gets_a_4xx_that_says_what_to_change(raw, body, status, message):
    client, engine = client_for()
    if raw is not None:
        r = client.post("/v1/predict", content=raw, headers={"content-type": "application/json"})
    else:
        r = client.post("/v1/predict", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]["message"]
    assert engine.encode_calls == []  # refused before any model work


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_not_sent_as_json_gets_a_415_that_names_the_header(content_type):
    client, _ = client_for()
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/v1/predict", content=json.dumps({"task": "squad", "inputs": {"context": "x"}}), headers=headers)
    assert r.status_code == 415
    assert "Content-Type: application/json" in r.json()["error"]["message"]


def test_oversize_body_is_413_whether_declared_or_streamed():
    client, engine = client_for()
    big = json.dumps({"task": "squad", "inputs": {"context": "x" * 5000}})
    r = client.post("/v1/predict", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "the limit is 4096 bytes" in r.json()["error"]["message"]

    def chunks():
        for i in range(0, len(big), 512):
            yield big[i:i + 512].encode()

    r = client.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "limit is 4096 bytes" in r.json()["error"]["message"]
    assert engine.encode_calls == []


def test_batch_over_the_limit_and_bad_items_are_refused():
    client, _ = client_for()
    item = {"task": "squad", "inputs": {"context": "x"}}
    r = client.post("/v1/predict/batch", json={"items": [item] * 4})
    assert r.status_code == 413 and "the batch has 4 items; the limit is 3" in r.json()["error"]["message"]
    r = client.post("/v1/predict/batch", json={"items": []})
    assert r.status_code == 422 and "items" in r.json()["error"]["message"]
    r = client.post("/v1/predict/batch", json={"items": [item, {"task": "nope", "inputs": {"context": "x"}}]})
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("items.1.task: unknown task 'nope'")


def test_unknown_route_and_method_are_json_errors():
    client, _ = client_for()
    r = client.get("/v1/predictt")
    assert r.status_code == 404 and "/v1/predict" in r.json()["error"]["message"]
    assert client.get("/v1/predict").status_code == 405


def test_heads_endpoint_lists_heads_tasks_checkpoint_and_limits():
    client, _ = client_for(colocated=("yesno",))
    body = client.get("/v1/heads").json()
    assert body["checkpoint"]["hash"] == "0123456789abcdef"
    assert {h["name"]: h["placement"] for h in body["heads"]}["yesno"] == "colocated"
    assert body["tasks"] == TASKS
    assert body["limits"]["max_batch_items"] == 3


def test_liveness_readiness_and_openapi():
    client, engine = client_for()
    assert client.get("/health/live").json() == {"status": "alive"}
    r = client.get("/health/ready")
    assert r.status_code == 200 and r.json()["ready"] is True
    engine.not_ready["head_span"] = "timeout: no answer within 2 s"
    r = client.get("/health/ready")
    assert r.status_code == 503 and r.json()["stages"]["head_span"].startswith("timeout") and "Retry-After" in r.headers
    schema = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/predict/batch", "/v1/heads"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


class LatencyRecorder(NullMetrics):
    """PipelineMetrics that keeps every request's (endpoint, status, ms)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int, float]] = []

    def request(self, endpoint: str, status: int, ms: float) -> None:
        self.requests.append((endpoint, status, ms))


def test_an_error_response_records_the_time_it_took_not_zero():
    catalog = make_catalog()
    engine = FakeEngine(catalog, failures={"number": "hang"})
    recorder = LatencyRecorder()
    predictor = Predictor(engine, catalog, Timeouts(non_target_head_s=0.2, target_head_s=0.3), recorder)
    client = TestClient(create_api(predictor, catalog, Limits(), retry_after_s=2, metrics=recorder), raise_server_exceptions=False)
    assert predict(client, task="drop_number").status_code == 504  # the target waited 0.3 s, then timed out
    assert predict(client, task="no_such_task").status_code == 422
    [(endpoint, status, waited_ms), (_, refused_status, refused_ms)] = recorder.requests
    assert (endpoint, status, refused_status) == ("/v1/predict", 504, 422)
    assert waited_ms >= 300
    assert refused_ms > 0
