"""`router.ingress: direct`: the router replica serves HTTP on its own port (Serve's direct
ingress), so clients skip the proxy's hop. Through that port the application must keep every
promise it makes through the proxy: the same answer, a 4xx with the reason for bad input, 503 +
Retry-After at once past its queue, an answer for every accepted request; and the proxy keeps
serving beside it. Its own cluster, in a child process (direct_app.py): direct ingress is
cluster-wide, and the package's cluster has it off."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from service.deploy.cluster_env import USER_CODE_THREAD_ENV
from tests.integration.direct_app import CLUSTER_ENV, HANG, SLOTS
from tests.integration.overload import flood, median_seconds
from tests.integration.test_service import body_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def urls(tmp_path_factory):
    from training.testing import make_random_checkpoint

    checkpoint = tmp_path_factory.mktemp("direct") / "tiny-random"
    make_random_checkpoint(checkpoint, seed=0)
    child = subprocess.Popen([sys.executable, "-m", "tests.integration.direct_app", str(checkpoint)], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line, f"the direct-ingress application did not start (exit status {child.wait(timeout=60)})"
        yield json.loads(line)
    finally:
        child.stdin.close()  # the child stops its cluster and exits
        try:
            child.wait(timeout=120)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def without_per_request_fields(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("request_id", "timings_ms")}


def test_the_direct_port_answers_as_the_proxy_does_and_refuses_bad_input(urls):
    assert urls["direct"] != urls["proxy"]
    with httpx.Client(timeout=60) as client:
        for task in ("squad", "drop_number", "summarize"):
            direct = client.post(f"{urls['direct']}/v1/predict", json=body_for(task))
            proxied = client.post(f"{urls['proxy']}/v1/predict", json=body_for(task))
            assert direct.status_code == proxied.status_code == 200, (direct.text, proxied.text)
            assert without_per_request_fields(direct.json()) == without_per_request_fields(proxied.json())
            assert direct.headers["x-request-id"] == direct.json()["request_id"]  # Serve's replica echoes it as the proxy does
        bad = client.post(f"{urls['direct']}/v1/predict", json={"task": "squid", "inputs": {"context": "x"}})
        assert bad.status_code == 422 and "valid tasks" in bad.json()["error"]["message"], bad.text
        assert client.get(f"{urls['direct']}/health/ready").json()["ready"] is True
        assert client.get(f"{urls['direct']}/v1/heads").status_code == 200


def test_overload_on_the_direct_port_is_refused_at_once_and_every_accepted_request_is_answered(urls):
    body = body_for("squad")
    body["inputs"]["question"] = f"{HANG} {body['inputs']['question']}"
    answers = flood(urls["direct"], body, 6 * SLOTS, timeout=60)
    statuses = Counter(status for status, _, _ in answers)
    refused = [a for a in answers if a[0] == 503]
    served = [a for a in answers if a[0] == 200]
    assert set(statuses) <= {200, 503}, f"every request is answered or refused, none fails: {statuses}"
    assert refused and len(served) >= SLOTS, answers
    assert all(retry == "2" for _, retry, _ in refused)  # router.retry_after_s, as the proxy sends it
    assert median_seconds(refused) < min(seconds for _, _, seconds in served), answers


def test_serves_request_timeout_answers_408_and_the_replica_keeps_answering(urls):
    # Serve's own bound on a request (x-request-timeout-seconds, or http_options.request_timeout_s)
    # cancels our code wherever it waits; a request merged into the same pass is not harmed
    body = body_for("squad")
    body["inputs"]["question"] = f"{HANG} {body['inputs']['question']}"
    with httpx.Client(timeout=60) as client:
        late = client.post(f"{urls['direct']}/v1/predict", json=body, headers={"x-request-timeout-seconds": "0.3"})
        assert late.status_code == 408, late.text  # the hanging head takes HANG_S: a 200 would mean no timeout
        after = client.post(f"{urls['direct']}/v1/predict", json=body_for("squad"))
        assert after.status_code == 200, after.text


def test_the_clusters_user_code_setting_reaches_the_router_replica(urls):
    # service/deploy/cluster_env.py: Serve reads RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD in each
    # replica's process, so the demo's `ray start` must hand it to the workers it starts; this
    # fails when the cluster environment stops reaching the replicas
    assert urls["router_user_code_env"] == CLUSTER_ENV[USER_CODE_THREAD_ENV], urls
