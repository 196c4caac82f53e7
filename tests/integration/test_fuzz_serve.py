"""A few dozen schemathesis cases and the named hostile inputs against the real Serve application
over HTTP (started once, conftest.py): what the in-process fuzzing (tests/unit/service/
test_fuzz_api.py) shows for the API must hold behind Serve's proxy, with the real model and
stages. Few cases, fixed seeds: this is a check that the two agree, not the search itself."""
from __future__ import annotations

import json

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.hostile import record
from tests.integration.conftest import MAX_BODY_BYTES, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def whole_service(service):
    """Start from a whole service: an earlier test may have killed a replica that is still coming
    back, and a 503 for a missing replica says nothing about the input."""
    body = {"task": "drop_number", "inputs": {"question": "How many?", "context": "The Stallions beat the Rangers 24 to 20."}}

    def whole() -> bool:
        r = httpx.post(f"{service.url}/v1/predict", json=body, timeout=30)
        return r.status_code == 200 and r.json()["errors"] == []

    wait_for(whole, 120, "every head to answer")

CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": [400, 413, 415, 422]}}})


def acceptable(status: int, text: str, mode: GenerationMode) -> bool:
    if status >= 500:
        return False
    if mode is GenerationMode.NEGATIVE or status == 200:
        return True
    # Schema-valid but refused: only for what the schema cannot say (text of only invisible
    # characters; a body over this deployment's byte limit, which is below the field limits).
    return (status == 422 and "is empty (nothing but" in text) or (status == 413 and "the limit is" in text)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_schemathesis_cases_against_the_real_app(service, mode):
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json", config=CONFIG)

    @given(case=schema.include(path_regex="^/v1/predict").as_strategy(generation_mode=mode))
    @settings(max_examples=12, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        response = case.call(base_url=service.url, timeout=30)
        record(f"schemathesis {mode.value} (real Serve app)", response.status_code)
        assert acceptable(response.status_code, response.text, mode), f"{response.status_code}: {response.text[:300]}"
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
        ids = response.headers.get("x-request-id") or []
        assert len(ids) == 1
        if response.status_code >= 400:
            assert json.loads(response.content)["error"]["request_id"] == ids[0]

    run()


HOSTILE = [
    (b'{"task": "squad", "inputs": {"context": "ab\\ud800cd"}}', 422, "lone UTF-16 surrogate (\\ud800) at character 2"),
    (b'{"task": "squad", "inputs": {"context": "caf\xe9"}}', 400, "not valid UTF-8"),
    (b"[" * 10_000 + b"]" * 10_000, 400, "too deeply"),  # 20 kB: under this deployment's body limit
    (json.dumps({"task": "squad", "inputs": {"context": "\u200b\u200d\u202e"}}).encode(), 422, "is empty (nothing but"),
    (json.dumps({"items": [{"task": "squad", "inputs": {"context": "x"}}] * 10_000}).encode(), 413, f"the limit is {MAX_BODY_BYTES} bytes"),
]


@pytest.mark.parametrize("content, status, message", HOSTILE, ids=["surrogate", "invalid-utf8", "deep-json", "zero-width-only", "batch-10000"])
def test_named_hostile_inputs_through_serve(service, content, status, message):
    path = "/v1/predict/batch" if content.startswith(b'{"items"') else "/v1/predict"
    r = httpx.post(f"{service.url}{path}", content=content, headers={"content-type": "application/json"}, timeout=30)
    record("explicit hostile HTTP cases (real Serve app)", r.status_code)
    assert r.status_code == status, r.text[:300]
    assert message in r.json()["error"]["message"]


def test_a_10000_token_context_with_control_and_rtl_text_is_answered_with_exact_offsets(service):
    # ~10,000 tokens in just under limits.max_field_chars (20,000 characters)
    context = "The Stallions\x07 beat \u202ethe Rangers\u202c 24 to 20. " + "a " * 9_975
    sent = {"task": "squad", "inputs": {"question": "Who\u200b won?", "context": context}}
    r = httpx.post(f"{service.url}/v1/predict", json=sent, timeout=60)
    record("explicit hostile HTTP cases (real Serve app)", r.status_code)
    assert r.status_code == 200, r.text[:300]
    answer = r.json()
    assert answer["input"]["windows"] > 40
    for out in [answer["target"], *answer["non_target"]]:
        spans = [out["output"]] if out["kind"] == "span" else out["output"]["spans"] if out["kind"] == "tagging" else []
        for span in spans:
            field = sent["inputs"][span["field"]] if span["field"] in sent["inputs"] else ""
            assert field[span["start"]:span["end"]] == span["text"]
