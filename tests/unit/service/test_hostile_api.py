"""The hostile inputs the reliability issue names, each sent over HTTP to the in-process API with
the production limits (settings.Limits defaults). Each gets a 4xx whose message says what to
change, or a correct answer; never a 5xx.

Refusals are checked against fake stages (tests/unit/service/fakes.py). Answers are checked
against the real model in this process (real_model.py: the random tiny checkpoint, every head
colocated, no Ray), so spans are real offsets from the real tokenizer: each must satisfy
field[start:end] == text.
"""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.pipeline.predict import Predictor
from service.http.router import create_api
from service.deploy.settings import Limits, Timeouts
from tests.hostile import record
from tests.unit.service.fakes import FakeEngine, make_catalog
from tests.unit.service.real_model import real_model_client

LIMITS = Limits()  # the production defaults: 1 MiB body, 16 items, 20,000 characters a field
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def fake_client() -> TestClient:
    catalog = make_catalog()
    return TestClient(create_api(Predictor(FakeEngine(catalog), catalog, Timeouts()), catalog, LIMITS),
                      raise_server_exceptions=False)


@pytest.fixture(scope="module")
def real_client(random_checkpoint) -> TestClient:
    return real_model_client(random_checkpoint, LIMITS)


def nested(depth: int, leaf: bytes = b"1") -> bytes:
    return b"[" * depth + leaf + b"]" * depth


def body(context: str = "Omar Roberts founded the choir.", **extra) -> dict:
    return {"task": "squad", "inputs": {"question": "Who founded it?", "context": context}, **extra}


REFUSED = [
    # name, raw body (bytes) or JSON-able body, headers, status, message fragment
    ("huge string", body("x" * 25_000), JSON, 422, "inputs.context has 25000 characters; the limit is 20000"),
    ("huge body", body("x" * 2_000_000), JSON, 413, "the limit is 1048576 bytes"),
    ("deep JSON, 100,000 levels", nested(100_000), JSON, 400, "nests JSON arrays or objects too deeply"),
    ("deep JSON in a field", b'{"task": ' + nested(100_000, b'"squad"') + b', "inputs": {"context": "x"}}', JSON, 400, "too deeply"),
    ("invalid UTF-8", b'{"task": "squad", "inputs": {"context": "caf\xe9"}}', JSON, 400, "not valid UTF-8 (byte 0xe9 at position 44)"),
    # json.loads decodes these bytes with "surrogatepass": they arrive as a lone surrogate, refused as one.
    ("UTF-8-encoded surrogate", b'{"task": "squad", "inputs": {"context": "a\xed\xa0\x80"}}', JSON, 422,
     "inputs.context: contains a lone UTF-16 surrogate (\\ud800) at character 1"),
    ("lone surrogate in context", b'{"task": "squad", "inputs": {"context": "ab\\ud800cd"}}', JSON, 422,
     "inputs.context: contains a lone UTF-16 surrogate (\\ud800) at character 2"),
    ("lone low surrogate in question", b'{"task": "squad", "inputs": {"question": "\\udc00", "context": "x"}}', JSON, 422,
     "inputs.question: contains a lone UTF-16 surrogate (\\udc00) at character 0"),
    ("lone surrogate in task", b'{"task": "\\ud83d", "inputs": {"context": "x"}}', JSON, 422, "task: contains a lone UTF-16 surrogate"),
    ("lone surrogate in heads", b'{"task": "squad", "heads": ["\\udfff"], "inputs": {"context": "x"}}', JSON, 422, "heads.0: contains a lone"),
    ("lone surrogate as a key", b'{"task": "squad", "inputs": {"context": "x", "\\ud800": 1}}', JSON, 422, "Input should be a valid string"),
    ("only zero-width characters", body("\u200b\u200c\u200d\ufeff"), JSON, 422, "inputs.context is empty (nothing but"),
    ("only control characters", body("\x00\x01\x1b\x7f"), JSON, 422, "inputs.context is empty"),
    ("only direction marks", body("\u202e\u2066\u200f"), JSON, 422, "inputs.context is empty"),
    ("batch of 10,000 items", {"items": [body("x")] * 10_000}, JSON, 413, "the batch has 10000 items; the limit is 16"),
    ("batch of 10,000 items over the body limit", {"items": [body("x" * 100)] * 10_000}, JSON, 413, "the limit is 1048576 bytes"),
    ("no content type", json.dumps(body()).encode(), {}, 415, "Content-Type: application/json"),
    ("text/plain", json.dumps(body()).encode(), {"content-type": "text/plain"}, 415, "got text/plain"),
    ("form", b"task=squad&context=x", {"content-type": "application/x-www-form-urlencoded"}, 415, "-H 'content-type: application/json'"),
    ("multipart", b"--b\r\n\r\nx\r\n--b--\r\n", {"content-type": "multipart/form-data; boundary=b"}, 415, "got multipart/form-data"),
    ("xml", b"<predict/>", {"content-type": "application/xml"}, 415, "got application/xml"),
    ("latin-1 declared", '{"task": "squad", "inputs": {"context": "café"}}'.encode("latin-1"),
     {"content-type": "application/json; charset=latin-1"}, 400, "not valid UTF-8"),
    ("empty body", b"", JSON, 422, "the request has no JSON body"),
    ("JSON null", b"null", JSON, 422, "valid dictionary"),
    ("a JSON string", b'"predict"', JSON, 422, "valid dictionary"),
    ("NaN", b'{"task": "squad", "inputs": {"context": "x"}, "options": {"max_new_tokens": NaN}}', JSON, 422, "valid integer"),
    ("1e400", b'{"task": "squad", "inputs": {"context": "x"}, "options": {"max_new_tokens": 1e400}}', JSON, 422, "valid integer"),
    ("a 5000-digit number", b'{"task": "squad", "inputs": {"context": "x"}, "options": {"max_new_tokens": ' + b"9" * 5000 + b"}}",
     JSON, 400, "a number too long to read"),
    ("a fraction for a count", b'{"task": "squad", "inputs": {"context": "x"}, "options": {"max_new_tokens": 2.5}}', JSON, 422, "valid integer"),
]


@pytest.mark.parametrize("name, sent, headers, status, message", REFUSED, ids=[r[0] for r in REFUSED])
def test_hostile_input_gets_a_4xx_that_says_what_to_change(fake_client, name, sent, headers, status, message):
    path = "/v1/predict/batch" if isinstance(sent, dict) and "items" in sent else "/v1/predict"
    content = sent if isinstance(sent, bytes) else json.dumps(sent).encode()
    r = fake_client.post(path, content=content, headers=headers)
    record("explicit hostile HTTP cases", r.status_code)
    assert r.status_code == status, r.text[:500]
    error = r.json()["error"]
    assert message in error["message"], error["message"]
    assert error["request_id"] == r.headers["x-request-id"]


def test_a_streamed_body_over_the_limit_is_refused_at_the_first_byte_over(fake_client):
    chunk = b"x" * 65536

    def stream():
        yield b'{"task": "squad", "inputs": {"context": "'
        for _ in range(40):  # 2.5 MiB, never declared
            yield chunk

    r = fake_client.post("/v1/predict", content=stream(), headers=JSON)
    record("explicit hostile HTTP cases", r.status_code)
    assert r.status_code == 413 and "the limit is 1048576 bytes" in r.json()["error"]["message"]


@pytest.mark.parametrize("depth", [50, 500, 900])
def test_json_nested_below_the_parsers_limit_is_a_4xx_too(fake_client, depth):
    # Deep enough that rendering the wrong value in the message could itself recurse too far.
    r = fake_client.post("/v1/predict", content=b'{"task": ' + nested(depth) + b', "inputs": {"context": "x"}}', headers=JSON)
    record("explicit hostile HTTP cases", r.status_code)
    assert r.status_code in (400, 422), r.text[:300]
    assert r.json()["error"]["message"]


@pytest.mark.parametrize("rid", ["a" * 10_000, "two words", "quote\"s", "ünïcode", ""])
def test_a_hostile_request_id_header_is_replaced_not_echoed(fake_client, rid):
    r = fake_client.post("/v1/predict", json=body(), headers={"x-request-id": rid.encode()})
    record("explicit hostile HTTP cases", r.status_code)
    assert r.status_code == 200
    assert r.json()["request_id"] == r.headers["x-request-id"] != rid and len(r.headers["x-request-id"]) <= 128


def spans_in(answer: dict) -> list[dict]:
    spans = list((answer.get("explanation") or {}).get("arguments", []))
    for out in [answer["target"], *answer["non_target"]]:
        if out["kind"] == "span":
            spans += [out["output"], *out["output"]["alternatives"]]
        elif out["kind"] == "tagging":
            spans += out["output"]["spans"]
    return spans


def assert_answered_correctly(r, sent: dict) -> dict:
    assert r.status_code == 200, r.text[:500]
    answer = r.json()
    fields = {"question": sent["inputs"].get("question", ""), **{k: v for k, v in sent["inputs"].items() if k != "question"}}
    for span in spans_in(answer):
        if span["text"] == "" and span["start"] == span["end"] == 0:
            continue  # "nothing found"
        field = fields[span["field"]]
        assert 0 <= span["start"] <= span["end"] <= len(field)
        assert field[span["start"]:span["end"]] == span["text"], span
    return answer


ANSWERED = [
    ("control characters", "Who\x07 won?", "The Stallions\x00 beat the\x1b[31m Rangers 24 to 20.\x7f"),
    ("zero-width characters", "Who\u200b won?", "The Stal\u200blions beat\u200d the Rangers\ufeff 24 to 20."),
    ("right-to-left text", "\u202eמי ניצח?", "\u05d4\u05e1\u05d8\u05d0\u05dc\u05d9\u05d5\u05e0\u05e1 beat \u0627\u0644\u0641\u0631\u064a\u0642 24 to 20 \u2067\u05e9\u05dc\u05d5\u05dd\u2069."),
    ("combining marks and emoji", "Who 👩‍👩‍👧 won?", "Cafe\u0301 \u0130stanbul \ufb01nance ß 🇫🇷 beat the Rangers 24 to 20."),
    ("a 10,000-token context", "Who won?", "a " * 9_999 + "b"),
    ("a question far over max_question_tokens", "why " * 2_000, "The Stallions beat the Rangers 24 to 20."),
]


@pytest.mark.parametrize("name, question, context", ANSWERED, ids=[a[0] for a in ANSWERED])
def test_hostile_text_that_is_still_text_is_answered_with_exact_offsets(real_client, name, question, context):
    sent = {"task": "drop_number", "inputs": {"question": question, "context": context}, "options": {"max_new_tokens": 4}}
    r = real_client.post("/v1/predict", json=sent)
    record("explicit hostile HTTP cases (real model)", r.status_code)
    answer = assert_answered_correctly(r, sent)
    if name == "a 10,000-token context":
        assert answer["input"]["windowed"] and answer["input"]["windows"] > 40
    if name.startswith("a question far over"):
        assert answer["input"]["question_truncated"] is True


HOSTILE_PIECES = ["\u200b", "\u200d", "\u202e", "\u2067", "\x00", "\x1b", "\u0301", "İ", "ß", "ﬁ", "👩‍👩‍👧", "שלום", "مرحبا",
                  "24", "Stallions", "?", "\n"]
PIECES = st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(min_size=1, max_size=5)), min_size=1, max_size=30).map(" ".join)


@given(question=PIECES, context=PIECES, task=st.sampled_from(["squad", "drop_number", "drop_spans", "hotpot_yesno", "summarize"]))
@settings(max_examples=25, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_generated_hostile_text_through_the_real_model(real_client, question, context, task):
    sent = {"task": task, "inputs": {"question": question, "context": context}, "options": {"max_new_tokens": 4}}
    r = real_client.post("/v1/predict", json=sent)
    record("hypothesis hostile text (real model over HTTP)", r.status_code)
    if r.status_code == 422:  # a generated text of only invisible characters
        assert "is empty (nothing but" in r.json()["error"]["message"]
        return
    assert_answered_correctly(r, sent)
