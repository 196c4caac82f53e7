"""The application served by one deployment (`backbone.placement: router`, every head colocated):
the router runs the backbone in its own replica. Deployed next to the package's app, on the same
private cluster, under /one. What the router guarantees must hold as with a backbone deployment:
every head answers, bad input is a 4xx with the reason, the batch endpoint is one forward pass,
overload is refused with 503 + Retry-After at once, and every accepted request gets an answer."""
from __future__ import annotations

import httpx
import pytest

from tests.integration.conftest import HANG, service_args
from tests.integration.overload import flood, median_seconds
from tests.integration.test_service import all_heads, body_for

pytestmark = pytest.mark.integration

APP = "wiyh-one"
SLOTS = 8  # the router's max_ongoing_requests (>= the backbone's batch) and as many queued at the proxy
HANG_S = 1.0  # the colocated summary head sleeps this long per call whose input carries HANG


@pytest.fixture(scope="module")
def one(service):
    from ray import serve

    from loadtests.serving import wait_ready
    from service.deploy.app import build_app
    from service.deploy.settings import deep_merge

    args = service_args(service.checkpoint)
    args["heads"]["overrides"] = {"summary": {"fault": {"mode": "hang", "trigger": HANG, "hang_s": HANG_S}}}
    args = deep_merge(args, {
        "router": {"max_ongoing_requests": SLOTS, "max_queued_requests": SLOTS},
        "backbone": {"placement": "router", "batching": {"max_batch_size": 8}},
        "heads": {"default": {"placement": "colocated"}},
        "timeouts": {"backbone_s": 20},
    })
    serve.run(build_app(args), name=APP, route_prefix="/one")
    url = f"{service.url}/one"
    wait_ready(url, 180)
    yield url
    serve.delete(APP)


def forward_passes() -> int:
    from ray import serve

    return serve.get_deployment_handle("router", app_name=APP).stats.remote().result(timeout_s=10)["forward_passes"]


def test_one_deployment_answers_with_every_head_and_refuses_bad_input(service, one):
    from ray import serve

    assert set(serve.status().applications[APP].deployments) == {"router"}
    with httpx.Client(base_url=one, timeout=30) as client:
        for task in ("drop_number", "hotpot_yesno", "summarize"):
            r = client.post("/v1/predict", json=body_for(task))
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["target"]["head"] == service.manifest.tasks[task]
            assert {body["target"]["head"], *(o["head"] for o in body["non_target"])} == all_heads(service)
            assert body["errors"] == []
        bad = client.post("/v1/predict", json={"task": "squid", "inputs": {"context": "x"}})
        assert bad.status_code == 422 and "valid tasks" in bad.json()["error"]["message"]
        before = forward_passes()
        batch = client.post("/v1/predict/batch", json={"items": [body_for(t) for t in ("squad", "drop_number", "summarize")]})
        assert batch.status_code == 200, batch.text
        assert forward_passes() - before == 1


def test_overload_is_refused_at_once_and_every_accepted_request_is_answered(one):
    body = body_for("squad")
    body["inputs"]["question"] = f"{HANG} {body['inputs']['question']}"
    answers = flood(one, body, 6 * SLOTS, timeout=60)
    statuses = sorted({status for status, _, _ in answers})
    refused = [a for a in answers if a[0] == 503]
    served = [a for a in answers if a[0] == 200]
    assert set(statuses) <= {200, 503}, f"every request is answered or refused, none fails: {statuses}"
    assert refused and len(served) >= SLOTS, answers
    assert all(retry == "2" for _, retry, _ in refused)
    # At once: refusals do not wait for a model pass, each of which holds its batch for HANG_S or
    # more. Compared with the fastest answer rather than a fixed bound, which a loaded machine
    # stretches; the median, so that one refusal the proxy's event loop took late does not decide.
    assert median_seconds(refused) < min(seconds for _, _, seconds in served), answers
