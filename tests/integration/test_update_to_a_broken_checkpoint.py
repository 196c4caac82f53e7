"""A bad deploy does not take down the application that is serving.

build_app verifies the checkpoint in full before it describes any deployment
(tests/unit/service/test_checkpoint_deploy.py covers each kind of damage). Here, on the real
cluster of the integration tests:

- `serve run` (imperative): the build fails in the caller with the file named, before Serve is
  asked anything; the running application keeps answering with its checkpoint.
- `serve deploy` (declarative, what the REST API and `serve deploy` do): the controller builds the
  new config in the cluster; the build fails, Serve marks the application DEPLOY_FAILED with our
  message and keeps its running replicas, which keep answering with the old checkpoint. This uses
  a small second application (every head colocated; started with serve.run, which builds it here
  and saves a build in the cluster) so the shared one is not disturbed; it also requires an API
  key, so auth is checked through Serve's proxy too.

The file is named to run after test_service.py: the second application's backbone exports the same
`ray_wiyh_*{stage="backbone"}` series the metrics test adds up, and Ray keeps exporting a deleted
replica's last values for a while.
"""
from __future__ import annotations


import httpx
import pytest

from tests.integration.conftest import service_args, wait_for
from training.testing import truncated_copy

pytestmark = pytest.mark.integration

BODY = {"task": "squad", "inputs": {"question": "Who founded the choir?", "context": "Omar Roberts founded the choir in 1920."}}
UPDATE_APP, UPDATE_ROUTE = "wiyh-update", "/update"
KEY = "integration-test-key-0123456789"


@pytest.fixture()
def broken_checkpoint(service, tmp_path):
    return truncated_copy(service.checkpoint, tmp_path / "broken")


def answer(url: str, headers: dict | None = None) -> dict:
    r = httpx.post(f"{url}/v1/predict", json=BODY, timeout=30, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers.get_list("x-request-id") == [r.json()["request_id"]]  # one id, Serve's, in header and body
    return r.json()


def test_serve_run_of_a_broken_checkpoint_fails_in_the_caller_and_the_app_keeps_serving(service, broken_checkpoint):
    from ray import serve

    from service.deploy.app import build_app
    from service.deploy.settings import ServiceConfigError

    with pytest.raises(ServiceConfigError, match=r"heads/span\.safetensors: sha256 .* does not match"):
        serve.run(build_app(service_args(broken_checkpoint)), name=service.app_name, route_prefix="/")
    assert answer(service.url)["checkpoint"]["hash"] == service.manifest.checkpoint_hash


def small_args(checkpoint) -> dict:
    single = {"num_replicas": 1, "autoscaling": None}
    return {"checkpoint": str(checkpoint), "router": single, "backbone": {**single, "torch_threads": 1},
            "heads": {"default": {**single, "placement": "colocated"}}, "auth": {"api_keys": [KEY]}}


def test_serve_deploy_of_a_broken_checkpoint_is_refused_and_the_running_app_keeps_answering(service, broken_checkpoint):
    from ray import serve
    from ray.serve.schema import ApplicationStatus, ServeDeploySchema

    from service.deploy.app import build_app

    client = serve.context._get_global_client()  # what `serve deploy` reaches through the REST API
    url = f"{service.url}{UPDATE_ROUTE}"
    try:
        serve.run(build_app(small_args(service.checkpoint)), name=UPDATE_APP, route_prefix=UPDATE_ROUTE)
        auth = {"Authorization": f"Bearer {KEY}"}
        # Ready, and answering: the router may learn of the backbone replica a moment after it starts.
        wait_for(lambda: httpx.post(f"{url}/v1/predict", json=BODY, headers=auth, timeout=30).status_code == 200, 120,
                 "the small app to answer")
        refused = httpx.post(f"{url}/v1/predict", json=BODY, timeout=30)
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
        assert refused.json()["error"]["code"] == "missing_api_key"
        assert refused.headers.get_list("x-request-id") == [refused.json()["error"]["request_id"]]
        before = answer(url, auth)

        update = {"name": UPDATE_APP, "route_prefix": UPDATE_ROUTE, "import_path": "service.deploy.app:build_app",
                  "args": small_args(broken_checkpoint)}
        client.deploy_apps(ServeDeploySchema(applications=[update]))

        answers: list[str] = []

        def refused_while_serving():
            # Every poll, a request to the app, while Ray retries the failing build task (3 times).
            r = httpx.post(f"{url}/v1/predict", json=BODY, headers=auth, timeout=30)
            answers.append("old" if r.status_code == 200 and r.json()["checkpoint"] == before["checkpoint"] else str(r.status_code))
            status = serve.status().applications[UPDATE_APP]
            return status if status.status == ApplicationStatus.DEPLOY_FAILED else None

        status = wait_for(refused_while_serving, 240, "the update to be refused", every_s=2)
        assert "the checkpoint cannot be deployed" in status.message and "heads/span.safetensors" in status.message
        assert answers and set(answers) == {"old"}, answers

        # Still the old replicas, still the old checkpoint, after the refusal.
        for _ in range(3):
            after = answer(url, {"X-API-Key": KEY})
            assert after["checkpoint"] == before["checkpoint"]
            assert after["target"]["head"] == "span" and after["errors"] == []
        assert serve.status().applications[service.app_name].status == ApplicationStatus.RUNNING
    finally:
        serve.delete(UPDATE_APP)
