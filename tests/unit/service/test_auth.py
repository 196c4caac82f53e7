"""API keys, request ids and what the logs may hold, over the in-process API (fake stages)."""
from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from service.http.auth import KeyChecker, presented_key
from service.pipeline.predict import Predictor
from service.http.router import create_api
from service.deploy.settings import Auth, Limits, ServiceConfigError, Timeouts, load_settings
from tests.unit.service.fakes import FakeEngine, make_catalog

KEY = "k" * 20 + "-first"
OTHER = "0123456789abcdef-second"
SECRET_TEXT = "Omar Roberts founded the Lighthouse Choir"  # must never reach a log line


def client_for(keys: list[str] = (), log_inputs: bool = False, failures: dict | None = None) -> TestClient:
    catalog = make_catalog()
    engine = FakeEngine(catalog, failures=failures or {})
    api = create_api(Predictor(engine, catalog, Timeouts(non_target_head_s=0.2, target_head_s=0.3)), catalog, Limits(), auth=Auth(api_keys=list(keys)),
                     log_inputs=log_inputs)
    return TestClient(api, raise_server_exceptions=False)


BODY = {"task": "squad", "inputs": {"question": "Who founded it?", "context": SECRET_TEXT}}


def test_without_keys_configured_the_api_is_open():
    assert client_for().post("/v1/predict", json=BODY).status_code == 200


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {KEY}"}, {"authorization": f"bearer   {OTHER}"},
                                     {"X-API-Key": KEY}])
def test_a_valid_key_in_either_header_is_accepted(headers):
    client = client_for([KEY, OTHER])
    assert client.post("/v1/predict", json=BODY, headers=headers).status_code == 200
    assert client.get("/v1/heads", headers=headers).status_code == 200


@pytest.mark.parametrize("headers, code", [
    ({}, "missing_api_key"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing_api_key"),
    ({"Authorization": "Bearer "}, "missing_api_key"),
    ({"Authorization": f"Bearer {KEY}x"}, "invalid_api_key"),
    ({"Authorization": f"Bearer {KEY[:-1]}"}, "invalid_api_key"),
    ({"X-API-Key": "wrong"}, "invalid_api_key"),
])
def test_no_key_or_a_wrong_key_is_a_401_that_says_how_to_send_one(headers, code):
    client = client_for([KEY])
    for path, method in [("/v1/predict", "post"), ("/v1/predict/batch", "post"), ("/v1/heads", "get")]:
        r = getattr(client, method)(path, headers=headers, **({"json": BODY} if method == "post" else {}))
        assert r.status_code == 401, (path, r.text)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        error = r.json()["error"]
        assert error["code"] == code and error["request_id"] == r.headers["x-request-id"]
        assert ("Authorization: Bearer <key>" in error["message"]) == (code == "missing_api_key")
        assert KEY not in r.text


def test_the_key_is_checked_before_the_body_is_read():
    # An unauthenticated client learns nothing about limits or validation.
    client = client_for([KEY])
    r = client.post("/v1/predict", content=b"x" * 2_000_000, headers={"content-type": "application/json"})
    assert r.status_code == 401


def test_health_and_docs_stay_open_and_the_schema_declares_the_keys():
    client = client_for([KEY])
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 200
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert "401" in schema["paths"]["/v1/predict"]["post"]["responses"]
    assert "security" not in schema["paths"]["/health/live"]["get"]


def test_the_comparison_hashes_first_so_its_time_does_not_depend_on_the_key_length():
    checker = KeyChecker([KEY, OTHER])
    assert checker.accepts(KEY.encode()) and checker.accepts(OTHER.encode())
    assert not checker.accepts(b"") and not checker.accepts(KEY.encode() + b"\x00")
    assert not KeyChecker([]).enabled
    assert presented_key([(b"x-api-key", b"  abc ")]) == b"abc"
    assert presented_key([(b"authorization", b"Token abc")]) is None


def test_keys_come_from_the_config_or_the_environment_and_weak_ones_are_refused():
    assert [k.get_secret_value() for k in load_settings({"auth": {"api_keys": [KEY]}}, environ={}).auth.api_keys] == [KEY]
    from_env = load_settings({"auth": {"api_keys": [KEY]}}, environ={"WIYH_API_KEYS": f" {OTHER} ,{KEY}"})
    assert [k.get_secret_value() for k in from_env.auth.api_keys] == [OTHER, KEY]
    with pytest.raises(ServiceConfigError, match=r"auth.api_keys\[0\] must be at least 16") as err:
        load_settings({"auth": {"api_keys": ["short key"]}}, environ={})
    assert "short key" not in str(err.value)
    assert KEY not in repr(from_env)


def test_every_response_carries_one_request_id_in_header_and_body():
    client = client_for()
    for r in [client.post("/v1/predict", json=BODY), client.post("/v1/predict", json={"task": "nope"}),
              client.get("/v1/nowhere"), client.post("/v1/predict", content=b"{", headers={"content-type": "application/json"})]:
        assert r.headers.get_list("x-request-id") == [r.json().get("request_id") or r.json()["error"]["request_id"]]
    r = client.post("/v1/predict", json=BODY, headers={"x-request-id": "client-id-42"})
    assert r.headers["x-request-id"] == r.json()["request_id"] == "client-id-42"


def test_a_500_has_the_request_id_in_its_header_body_and_log_line_but_no_input_text(caplog):
    client = client_for(failures={"span": "crash"})
    with caplog.at_level(logging.INFO, logger="wiyh"):
        r = client.post("/v1/predict", json=BODY)
    assert r.status_code == 500
    rid = r.json()["error"]["request_id"]
    assert r.headers["x-request-id"] == rid
    [record] = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    line = caplog.handler.format(record)
    assert f"[request {rid}]" in line and "RuntimeError" in line
    # the exception's message is withheld (the fake's source line, quoted in the stack, holds the same words)...
    assert "RuntimeError: secret internal detail" not in line
    assert "message withheld" in line and "Traceback" in line  # ...its type and stack are not


def test_log_inputs_keeps_exception_messages_whole(caplog):
    client = client_for(failures={"span": "crash"}, log_inputs=True)
    with caplog.at_level(logging.INFO, logger="wiyh"):
        client.post("/v1/predict", json=BODY)
    assert "RuntimeError: secret internal detail" in caplog.text
    client_for()  # back to the default for the rest of the session


def test_no_log_line_of_a_request_carries_its_text(caplog):
    client = client_for(failures={"multispan": "error", "summary": "hang"})
    with caplog.at_level(logging.DEBUG):
        client.post("/v1/predict", json=BODY)
        client.post("/v1/predict", json={"task": "drop_number", "inputs": {"context": SECRET_TEXT}})
        client.post("/v1/predict", json={"task": "squad", "inputs": {"context": SECRET_TEXT * 2000}})
    assert caplog.records, "the failing heads were logged"
    assert all(SECRET_TEXT not in caplog.handler.format(rec) for rec in caplog.records)
    assert all("[request " in rec.getMessage() for rec in caplog.records if rec.name.startswith("wiyh"))
