"""The Open Inference Protocol on the real Serve application, driven by `tritonclient.http`, a
client written for Triton and KServe (conftest.py starts the app once)."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import numpy as np
import pytest
import tritonclient.http as tritonclient_http
from tritonclient.utils import InferenceServerException

from tests.integration.conftest import FAIL
from training.data.synthetic import generate

pytestmark = pytest.mark.integration

EXAMPLES = [e for e in generate("numeric", 40, seed=11) if e.task == "drop_number"][:3]


@pytest.fixture
def client(service):
    client = tritonclient_http.InferenceServerClient(urlsplit(service.url).netloc, network_timeout=60)
    yield client
    client.close()


def text_input(name: str, values: list[str]):
    tensor = tritonclient_http.InferInput(name, [len(values)], "BYTES")
    tensor.set_data_from_numpy(np.array([v.encode() for v in values], dtype=object))
    return tensor


def batch(questions: list[str]) -> list:
    return [text_input("question", questions), text_input("context", [e.context for e in EXAMPLES])]


def test_a_batch_of_3_gets_every_heads_output_from_one_backbone_pass(service, client):
    heads = sorted(h.name for h in service.manifest.heads)
    replica_heads = [h for h in heads if h not in ("answer_type", "yesno")]  # conftest colocates these two
    before = service.backbone_stats()
    calls_before = {h: service.head_stats(h)["calls_served"] for h in replica_heads}
    result = client.infer(service.manifest.name, batch([e.question for e in EXAMPLES]), parameters={"task": "drop_number"})
    assert service.backbone_stats()["forward_passes"] - before["forward_passes"] == 1
    # one call per head replica for the whole batch, not one per input
    assert {h: service.head_stats(h)["calls_served"] - calls_before[h] for h in replica_heads} == {h: 1 for h in replica_heads}
    for head in heads:
        elements = [json.loads(e) for e in result.as_numpy(head)]
        assert len(elements) == 3 and all("output" in e for e in elements), (head, elements)
    answers = [json.loads(e) for e in result.as_numpy("result")]
    assert [a["target"]["head"] for a in answers] == [service.manifest.tasks["drop_number"]] * 3
    assert result.get_response()["model_version"] == service.manifest.checkpoint_hash


def test_a_failing_non_target_head_is_an_error_element_and_the_rest_answer(service, client):
    questions = [EXAMPLES[0].question, f"{FAIL} {EXAMPLES[1].question}", EXAMPLES[2].question]
    result = client.infer(service.manifest.name, batch(questions), parameters={"task": "drop_span"})
    # the batch is one call to the multispan replica, and the injected fault fails that call whole
    multispan = [json.loads(e) for e in result.as_numpy("multispan")]
    assert all(e["role"] == "non_target" and e["error"]["kind"] == "failed" for e in multispan), multispan
    assert all(json.loads(a)["degraded"] for a in result.as_numpy("result"))
    assert all("output" in json.loads(e) for e in result.as_numpy("span"))


def test_a_bad_request_is_a_400_whose_message_the_client_reports(service, client):
    with pytest.raises(InferenceServerException) as raised:
        client.infer(service.manifest.name, batch([e.question for e in EXAMPLES]), parameters={"task": "no_such_task"})
    assert raised.value.status() == "400"
    assert "parameters.task: unknown task 'no_such_task'; valid tasks:" in raised.value.message()
    assert client.is_server_ready() and client.is_model_ready(service.manifest.name)
