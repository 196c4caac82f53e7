"""A head replica killed under the running app (see conftest.py): the service keeps answering, the
target is retried or refused with 503 + Retry-After, and Serve brings the replica back.

The longer runs with load, a backbone kill and a lost node are scripts that print their figures:
python -m loadtests.faults --fault head|backbone|node.
"""
from __future__ import annotations

import httpx
import pytest

from loadtests.serving import alive_replicas, sigkill
from tests.integration.conftest import wait_for
from tests.integration.test_service import body_for

pytestmark = pytest.mark.integration


def test_a_killed_head_replica_degrades_then_comes_back(service):
    [victim] = alive_replicas(service.app_name, "head_number")
    sigkill(victim)
    with service.client() as client:
        # number is a non-target head here: the answer goes out, number is missing or reported
        r = client.post("/v1/predict", json=body_for("squad"))
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["target"]["head"] == "span"
        reported = {e["head"]: e["kind"] for e in answer["errors"]}
        answered = {o["head"] for o in answer["non_target"]}
        assert "number" in answered or reported.get("number") in ("unavailable", "timeout"), answer

        # number is the target: one retry, then either its answer or a 503 that says when to come back
        r = client.post("/v1/predict", json=body_for("drop_number"))
        assert r.status_code in (200, 503), r.text
        if r.status_code == 503:
            assert r.headers["retry-after"] == "2"
            assert r.json()["error"]["message"].startswith("target head 'number' unavailable")

        def replaced() -> bool:
            alive = alive_replicas(service.app_name, "head_number")
            return len(alive) == 1 and alive[0].pid != victim.pid

        wait_for(replaced, 90, "Serve to replace the killed head_number replica", every_s=1)

        def whole() -> bool:
            r = client.post("/v1/predict", json=body_for("drop_number"))
            return r.status_code == 200 and r.json()["errors"] == []

        wait_for(whole, 60, "answers from the new head_number replica", every_s=1)
        assert httpx.get(f"{service.url}/health/ready", timeout=10).status_code == 200
