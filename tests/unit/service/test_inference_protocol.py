"""The Open Inference Protocol (/v2) as a client written elsewhere uses it: `tritonclient.http`
against the router's app over real HTTP (uvicorn on 127.0.0.1, the real tiny model in process),
and raw requests for what that client never sends."""
from __future__ import annotations

import json
import socket
import struct
import threading
import time

import numpy as np
import pytest
import tritonclient.http as tritonclient_http
from tritonclient.utils import InferenceServerException
from fastapi.testclient import TestClient

from model.checkpoint import read_manifest
from service.deploy.in_process import load_in_process
from service.http.auth import Auth
from service.http.router import create_api
from service.http.v2.tensors import HEADER_LENGTH, TensorError, bytes_tensor, encode_response, read_bytes_elements
from service.pipeline.catalog import Catalog
from service.pipeline.failures import StageError
from service.pipeline.limits import Limits, Timeouts
from service.pipeline.predict import Predictor
from tests.unit.service.fakes import FakeEngine, make_catalog


QUESTIONS = [b"Who won the game?", b"How many points did the Rangers score?", b"Is the choir older than the club?"]
CONTEXTS = [b"The Stallions won 24 to 20 against the Rangers.", b"The Rangers scored 20 points in 1917.",
            b"Omar Roberts founded the choir in 1920. The club was formed in 1931."]
MAX_ITEMS = 4


@pytest.fixture(scope="module")
def served(random_checkpoint):
    """(the tritonclient, the in-process engine, the manifest) for the app served on a free port."""
    import uvicorn

    manifest = read_manifest(random_checkpoint)
    catalog = Catalog.from_manifest(manifest, {h.name: "colocated" for h in manifest.heads})
    engine = load_in_process(random_checkpoint)
    app = create_api(Predictor(engine, catalog, Timeouts()), catalog, Limits(max_batch_items=MAX_ITEMS))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start in 30 s"
        time.sleep(0.05)
    client = tritonclient_http.InferenceServerClient(f"127.0.0.1:{port}")
    yield client, engine, manifest
    client.close()
    server.should_exit = True
    thread.join(timeout=10)


def text_input(name: str, values: list[bytes], binary: bool = True):
    tensor = tritonclient_http.InferInput(name, [len(values)], "BYTES")
    tensor.set_data_from_numpy(np.array(values, dtype=object), binary_data=binary)
    return tensor


def inputs(binary: bool = True, n: int = 3) -> list:
    return [text_input("question", QUESTIONS[:n], binary), text_input("context", CONTEXTS[:n], binary)]


def outputs_by_name(result) -> dict[str, np.ndarray]:
    return {o["name"]: result.as_numpy(o["name"]) for o in result.get_response()["outputs"]}


def test_tritonclient_gets_every_heads_output_for_a_batch_of_3_in_one_backbone_pass(served):
    client, engine, manifest = served
    heads = [h.name for h in manifest.heads]
    before = engine.backbone.stats()["forward_passes"]
    result = client.infer(manifest.name, inputs(), parameters={"task": "hotpot_yesno"})
    assert engine.backbone.stats()["forward_passes"] - before == 1
    response = result.get_response()
    assert response["model_name"] == manifest.name and response["model_version"] == manifest.checkpoint_hash
    got = outputs_by_name(result)
    assert set(heads) <= set(got) and "result" in got
    target = manifest.tasks["hotpot_yesno"]
    for head in heads:
        assert got[head].shape == (3,)
        elements = [json.loads(e) for e in got[head]]
        assert all(e["role"] == ("target" if head == target else "non_target") for e in elements)
        assert all("output" in e for e in elements), f"{head} did not answer every input: {elements}"
    whole = [json.loads(e) for e in got["result"]]
    assert [w["target"]["head"] for w in whole] == [target] * 3
    assert [w["task"] for w in whole] == ["hotpot_yesno"] * 3


def test_class_probabilities_come_as_an_fp32_tensor_that_matches_the_heads_json(served):
    client, _, manifest = served
    result = client.infer(manifest.name, inputs(), parameters={"task": "hotpot_yesno"})
    got = outputs_by_name(result)
    described = {o["name"]: o for o in result.get_response()["outputs"]}
    typed = [name for name in got if name.endswith(".probabilities")]
    assert typed, "the checkpoint's classification heads give typed probabilities"
    for name in typed:
        head = name.removesuffix(".probabilities")
        labels = described[name]["parameters"]["labels"].split(",")
        assert got[name].dtype == np.float32 and got[name].shape == (3, len(labels))
        assert np.allclose(got[name].sum(axis=1), 1.0, atol=1e-4)
        for row, element in zip(got[name], got[head]):
            probabilities = json.loads(element)["output"]["probabilities"]
            assert list(probabilities) == labels
            assert np.allclose(row, [probabilities[label] for label in labels], atol=1e-6)


def test_json_and_binary_tensors_carry_the_same_answers(served):
    client, _, manifest = served
    binary = outputs_by_name(client.infer(manifest.name, inputs(binary=True), parameters={"task": "squad"}))
    wanted = [tritonclient_http.InferRequestedOutput(name, binary_data=False) for name in binary]
    as_json = client.infer(manifest.name, inputs(binary=False), parameters={"task": "squad"}, outputs=wanted)
    assert all("data" in o for o in as_json.get_response()["outputs"])
    plain = outputs_by_name(as_json)
    for name, values in binary.items():
        if values.dtype == object:
            assert [json.loads(v)["target"] if name == "result" else json.loads(v) for v in values] == \
                   [json.loads(v)["target"] if name == "result" else json.loads(v) for v in plain[name]]
        else:
            assert np.allclose(values, plain[name], atol=1e-6)


def test_heads_parameter_and_requested_outputs_choose_what_comes_back(served):
    client, _, manifest = served
    target = manifest.tasks["squad"]
    only_target = outputs_by_name(client.infer(manifest.name, inputs(), parameters={"task": "squad", "heads": ""}))
    assert set(only_target) == {"result", target}
    one = client.infer(manifest.name, inputs(n=2), parameters={"task": "squad"},
                       outputs=[tritonclient_http.InferRequestedOutput("result")])
    assert [o["name"] for o in one.get_response()["outputs"]] == ["result"]
    assert one.as_numpy("result").shape == (2,)


def test_metadata_health_and_the_one_version(served):
    client, _, manifest = served
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(manifest.name) and client.is_model_ready(manifest.name, manifest.checkpoint_hash)
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    metadata = client.get_model_metadata(manifest.name, manifest.checkpoint_hash)
    assert metadata["versions"] == [manifest.checkpoint_hash]
    assert [i["name"] for i in metadata["inputs"]] == ["question", "context", "text"]
    assert {h.name for h in manifest.heads} <= {o["name"] for o in metadata["outputs"]}
    with pytest.raises(InferenceServerException) as raised:
        client.get_model_metadata(manifest.name, "0000")
    assert raised.value.status() == "404" and manifest.checkpoint_hash in raised.value.message()
    with pytest.raises(InferenceServerException) as raised:
        client.infer("no-such-model", inputs(), parameters={"task": "squad"})
    assert raised.value.status() == "404" and manifest.name in raised.value.message()


def _int_input():
    tensor = tritonclient_http.InferInput("context", [1], "INT32")
    tensor.set_data_from_numpy(np.array([7], dtype=np.int32))
    return tensor


@pytest.mark.parametrize("request_inputs, parameters, status, message", [
    (lambda: inputs(), {"task": "nope"}, "400", "parameters.task: unknown task 'nope'"),
    (lambda: inputs(), {"task": "squad", "heads": "span,nope"}, "400", "parameters.heads: unknown head"),
    (lambda: inputs(), {"tsk": "squad"}, "400", "parameters ['tsk'] are not known here"),
    (lambda: inputs(), {"task": "squad", "target_head": "span"}, "400", "exactly one of `task` or `target_head`"),
    (lambda: [_int_input()], {"task": "squad"}, "400", "send it as BYTES"),
    (lambda: [text_input("question", QUESTIONS[:2]), text_input("context", CONTEXTS[:3])], {"task": "squad"}, "400",
     "different numbers of elements"),
    (lambda: [text_input("question", QUESTIONS[:1])], {"task": "squad"}, "400", "send one passage input, `context`"),
    (lambda: [text_input("context", ["  \u200b".encode()])], {"task": "squad"}, "400", "element 0: inputs.context is empty"),
    (lambda: [text_input("passage", CONTEXTS[:1])], {"task": "squad"}, "400", "inputs are named ['passage']"),
    (lambda: [text_input("context", CONTEXTS[:1] * (MAX_ITEMS + 1))], {"task": "squad"}, "413", f"the limit is {MAX_ITEMS}"),
    (lambda: inputs(), {"task": "summarize", "max_new_tokens": 0}, "400", "parameters.max_new_tokens must be"),
    (lambda: inputs(), {"task": "summarize", "max_new_tokens": 10_000}, "400", "parameters.max_new_tokens 10000 is above"),
])
def test_a_bad_request_is_refused_with_a_message_the_client_reports(served, request_inputs, parameters, status, message):
    client, _, manifest = served
    with pytest.raises(InferenceServerException) as raised:
        client.infer(manifest.name, request_inputs(), parameters=parameters)
    assert raised.value.status() == status
    assert message in raised.value.message()


def test_an_unknown_requested_output_lists_the_valid_ones(served):
    client, _, manifest = served
    with pytest.raises(InferenceServerException) as raised:
        client.infer(manifest.name, inputs(), parameters={"task": "squad"},
                     outputs=[tritonclient_http.InferRequestedOutput("spam")])
    assert raised.value.status() == "400" and "valid outputs: ['result'" in raised.value.message()


# What tritonclient never sends, over the fake engine

def fake_client(engine: FakeEngine | None = None, auth: Auth | None = None) -> tuple[TestClient, FakeEngine]:
    catalog = make_catalog()
    engine = engine or FakeEngine(catalog)
    api = create_api(Predictor(engine, catalog, Timeouts(target_head_s=0.3)), catalog, Limits(max_batch_items=3),
                     auth=auth)
    return TestClient(api, raise_server_exceptions=False), engine


def infer_body(**overrides) -> dict:
    body = {"inputs": [{"name": "context", "shape": [2], "datatype": "BYTES", "data": ["Rangers won.", "Cats sat."]}],
            "parameters": {"task": "squad"}}
    return {**body, **overrides}


def binary_body(header: dict, binary: bytes) -> tuple[bytes, dict[str, str]]:
    """A body with binary data after its JSON, and the header that says where the JSON ends."""
    head = json.dumps(header).encode()
    return head + binary, {HEADER_LENGTH: str(len(head))}


BINARY_CONTEXT = {"inputs": [{"name": "context", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}],
                  "parameters": {"task": "squad"}}


@pytest.mark.parametrize("content, headers, message", [
    (b'{"inputs": [', {}, "not valid JSON"),
    (json.dumps(infer_body(inputs=[])).encode(), {}, "inputs"),
    (json.dumps(infer_body(input=[])).encode(), {}, "unknown field"),
    (b'{"inputs": []}', {HEADER_LENGTH: "99"}, HEADER_LENGTH),
    (*binary_body(BINARY_CONTEXT, struct.pack("<I", 2) + b"\xff\xfe"), "not valid UTF-8"),
    (*binary_body(BINARY_CONTEXT, struct.pack("<I", 9) + b"ab"), "element 0 says 9 bytes"),
    (*binary_body(infer_body(), b"extra"), "bytes of binary data follow the JSON"),
    (json.dumps(infer_body(inputs=[{"name": "context", "shape": [2], "datatype": "BYTES", "data": ["one"]}])).encode(),
     {}, "shape [2] (2 elements) but 1 in `data`"),
])
def test_a_body_that_cannot_be_read_gets_a_400_with_the_protocols_error_body(content, headers, message):
    client, engine = fake_client()
    r = client.post("/v2/models/fake/infer", content=content, headers={"content-type": "application/octet-stream", **headers})
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and message in body["error"], body
    assert r.headers["x-request-id"]
    assert engine.encode_calls == []  # refused before any model work


def test_a_failing_target_is_a_502_and_an_unknown_v2_path_a_404_in_the_protocols_shape():
    engine = FakeEngine(make_catalog(), failures={"span": StageError("head_span", "failed", "raised RuntimeError")})
    client, _ = fake_client(engine)
    r = client.post("/v2/models/fake/infer", json=infer_body())
    assert r.status_code == 502 and "target head 'span' failed" in r.json()["error"]
    r = client.get("/v2/repository/index")
    assert r.status_code == 404 and "/v2" in r.json()["error"]
    # /v1 keeps its own error body
    assert set(client.get("/v1/nothing").json()["error"]) == {"code", "message", "request_id"}


def test_with_api_keys_v2_needs_one_and_its_health_probes_stay_open():
    key = "k" * 20
    client, _ = fake_client(auth=Auth(api_keys=[key]))
    r = client.post("/v2/models/fake/infer", json=infer_body())
    assert r.status_code == 401 and isinstance(r.json()["error"], str)
    assert client.post("/v2/models/fake/infer", json=infer_body(), headers={"authorization": f"Bearer {key}"}).status_code == 200
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2").status_code == 401


def test_not_ready_is_a_503_on_the_v2_probes():
    client, engine = fake_client()
    engine.not_ready = {"head_span": "no replica"}
    r = client.get("/v2/health/ready")
    assert r.status_code == 503 and r.json() == {"ready": False} and r.headers["retry-after"]
    assert client.get("/v2/models/fake/ready").status_code == 503


def test_openapi_documents_the_infer_route_and_its_request():
    client, _ = fake_client()
    document = client.get("/openapi.json").json()
    infer = document["paths"]["/v2/models/{name}/infer"]["post"]
    ref = infer["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schemas = document["components"]["schemas"]
    request = schemas[ref.rsplit("/", 1)[1]]
    assert {"inputs", "parameters", "outputs"} <= set(request["properties"])
    nested = request["properties"]["inputs"]["items"]["$ref"].rsplit("/", 1)[1]
    assert nested in schemas  # every reference resolves
    assert infer["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ProtocolError")


# The binary tensor format, on known bytes

def test_bytes_elements_round_trip_and_a_short_buffer_is_named():
    raw = bytes_tensor([b"ab", b"", "é".encode()])
    assert raw == b"\x02\x00\x00\x00ab" + b"\x00\x00\x00\x00" + b"\x02\x00\x00\x00\xc3\xa9"
    assert read_bytes_elements("context", raw, 3) == [b"ab", b"", "é".encode()]
    with pytest.raises(TensorError, match="ends before element 1 of 2"):
        read_bytes_elements("context", raw[:6], 2)
    with pytest.raises(TensorError, match="left over"):
        read_bytes_elements("context", raw, 2)


def test_a_binary_response_puts_each_tensor_after_the_json_in_order():
    body, length = encode_response({"id": "r"}, [
        ({"name": "a", "datatype": "BYTES", "shape": [1]}, ["x"], True),
        ({"name": "p", "datatype": "FP32", "shape": [1, 2]}, [0.25, None], True),
        ({"name": "j", "datatype": "FP32", "shape": [1]}, [None], False),
    ])
    header = json.loads(body[:length])
    assert [o["parameters"].get("binary_data_size") for o in header["outputs"][:2]] == [5, 8]
    assert header["outputs"][2]["data"] == [None]
    assert body[length:length + 5] == b"\x01\x00\x00\x00x"
    values = np.frombuffer(body[length + 5:], dtype="<f4")
    assert values[0] == 0.25 and np.isnan(values[1])
    assert encode_response({"id": "r"}, [({"name": "j", "datatype": "BYTES", "shape": [1]}, ["x"], False)])[1] is None

