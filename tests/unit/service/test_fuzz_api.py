"""Schemathesis against the API's own OpenAPI document, in process (ASGI, fake stages, no Ray).

Positive cases (valid by the published schema) must be answered 200; negative cases (schema-invalid
bodies, wrong types, missing fields, unknown names, over-limit values) must be refused with a 4xx
whose JSON body says what to change. Either way: never a 5xx, every response matches the schema,
and the request id of the body is the one in the header. The seeds are fixed (derandomize) so CI
sees the same cases every run; the counts are printed at the end of the run (tests/conftest.py).
"""
from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.pipeline.predict import Predictor
from service.http.router import create_api
from service.deploy.settings import Limits, Timeouts
from tests.hostile import record
from tests.unit.service.fakes import FakeEngine, make_catalog

# Small field limit: long strings are generated at once, and cases stay fast.
LIMITS = Limits(max_body_bytes=64 * 1024, max_batch_items=3, max_field_chars=200, max_new_tokens=16)
EXAMPLES = {GenerationMode.POSITIVE: 80, GenerationMode.NEGATIVE: 150}
CONFIG = schemathesis.Config.from_dict({
    # 413 and 415 are how this API refuses an over-long batch or a body that is not JSON; 404 a
    # /v2 path that names another model or version.
    "checks": {"negative_data_rejection": {"expected-statuses": [400, 404, 413, 415, 422]}},
})


def make_app():
    catalog = make_catalog(colocated=("answer_type", "yesno"))
    predictor = Predictor(FakeEngine(catalog), catalog, Timeouts())
    return create_api(predictor, catalog, LIMITS)


SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", make_app(), config=CONFIG)


def check_response(case, response, mode: GenerationMode) -> None:
    """What this project promises beyond the schema's own checks."""
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
    ids = response.headers.get("x-request-id") or []  # schemathesis keeps every header as a list
    assert len(ids) == 1, f"one x-request-id per response, got {ids}"
    rid = ids[0]
    if response.status_code >= 400:
        error = json.loads(response.content)["error"]
        assert error["message"].strip() and error["code"], response.text
        assert error["request_id"] == rid
    elif case.path.startswith("/v1/predict"):
        assert json.loads(response.content)["request_id"] == rid
    if mode is GenerationMode.POSITIVE and case.path.startswith("/v1/predict"):
        # The one rule JSON Schema cannot state: a text of only control / zero-width characters
        # (the schema's pattern asks for a non-space character) is refused as empty.
        ok = response.status_code == 200 or (response.status_code == 422 and "is empty (nothing but" in response.text)
        assert ok, f"a schema-valid request was refused: {response.status_code} {response.text[:300]}\nbody: {case.body!r}"[:1200]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_the_api_answers_every_generated_request_with_a_2xx_or_a_clear_4xx(mode):
    @given(case=SCHEMA.include(path_regex="^/(v1|health)").as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        response = case.call()
        record(f"schemathesis {mode.value} (in-process API)", response.status_code)
        # positive_data_acceptance is replaced by check_response's version, which knows the
        # one refusal the schema cannot express.
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
        check_response(case, response, mode)

    run()



def check_protocol_response(response) -> None:
    """The Open Inference Protocol's promises: never a 5xx, one request id, and an error body its
    clients read, {"error": "<message>"}."""
    assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    assert len(response.headers.get("x-request-id") or []) == 1
    if response.status_code >= 400:
        error = json.loads(response.content)["error"]
        assert isinstance(error, str) and error.strip(), response.text


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_the_inference_protocol_answers_every_generated_request_with_a_2xx_or_its_error_body(mode):
    # A schema-valid /v2 request may still be refused: JSON Schema cannot say that every input
    # holds as many texts as the others, or which input names the model reads.
    @given(case=SCHEMA.include(path_regex="^/v2").as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        response = case.call()
        record(f"schemathesis {mode.value} (in-process API, /v2)", response.status_code)
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
        check_protocol_response(response)

    run()

def test_the_published_schema_names_the_checkpoint_and_the_limits():
    document = make_app().openapi()
    schemas = document["components"]["schemas"]
    task = schemas["PredictRequest"]["properties"]["task"]["anyOf"][0]
    assert task["enum"] == sorted(make_catalog().tasks)
    assert schemas["BatchRequest"]["properties"]["items"]["maxItems"] == LIMITS.max_batch_items
    context = schemas["Inputs"]["properties"]["context"]["anyOf"][0]
    assert context["maxLength"] == LIMITS.max_field_chars
    assert "securitySchemes" not in document.get("components", {})  # no keys configured
