"""The response says which head answers a routed task and why (GenBERT's answer-type routing,
model/routing.py), through the in-process engine on a real (random-weight) checkpoint."""
from __future__ import annotations

from fastapi.testclient import TestClient

from tests.unit.service.real_model import real_model_client

BEARS = {"question": "How many more points did the Bears score than the Lions?",
         "context": "The Bears scored 24 points. The Lions scored 17 points."}


def _client(checkpoint) -> TestClient:
    return real_model_client(checkpoint)


def test_a_number_question_says_which_head_answers_and_why(random_checkpoint):
    body = _client(random_checkpoint).post("/v1/predict", json={"task": "drop_number", "inputs": BEARS}).json()
    route = body["route"]
    assert route["head"] in ("number", "span") and route["reason"] and 0.0 <= route["confidence"] <= 1.0
    outputs = {o["head"]: o["output"] for o in [body["target"], *body["non_target"]]}
    assert route["answer"] == outputs[route["head"]]["text"]
    probabilities = outputs["answer_type"]["probabilities"]
    assert route["confidence"] == max(probabilities["span"], probabilities["number"])


def test_unrouted_tasks_and_missing_heads_give_no_route(random_checkpoint):
    client = _client(random_checkpoint)
    assert client.post("/v1/predict", json={"task": "squad", "inputs": BEARS}).json()["route"] is None
    # without the answer-type head's output there is nothing to route on
    only = client.post("/v1/predict", json={"task": "drop_number", "inputs": BEARS, "heads": ["span"]}).json()
    assert only["route"] is None
