"""An edit of Serve's `deployments:` section reaches the running replicas in place.

A small application is deployed declaratively (what `serve deploy` and the REST API do) with its
replicas, queues and batching in `deployments:`; then, while clients keep sending requests, the
same config is deployed again with a larger `max_replicas` and a smaller batch. The backbone and
head replicas must be the same replicas in the same processes afterwards (no restart, no reload of
the checkpoint), their batchers must use the new size, and every request must have been answered.
The application logs in JSON (`logging: {encoding: JSON}`): each replica's log lines are JSON, and a
request's lines carry the id the client sent as x-request-id.

Named to run after test_service.py, as test_update_to_a_broken_checkpoint.py is (its second
application's backbone exports the series the metrics test adds up).
"""
from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration

APP, ROUTE = "wiyh-inplace", "/inplace"
BODY = {"task": "squad", "inputs": {"question": "Who founded the choir?", "context": "Omar Roberts founded the choir in 1920."}}
TINY = {"num_cpus": 0.05}


def app_config(checkpoint, backbone_batch: int, max_replicas: int) -> dict:
    # No autoscaling can start a replica here: the target load per replica is far above this test's.
    scaling = {"min_replicas": 1, "max_replicas": max_replicas, "target_ongoing_requests": 1000}
    return {
        "name": APP, "route_prefix": ROUTE, "import_path": "service.deploy.app:build_app",
        "args": {"checkpoint": str(checkpoint), "router": TINY,
                 "backbone": {**TINY, "placement": "replica", "torch_threads": 1},
                 "heads": {"default": {**TINY, "placement": "colocated"}, "overrides": {"span": {"placement": "replica"}}},
                 "limits": {"max_batch_items": 4}, "logging": {"encoding": "JSON"}},
        "deployments": [
            {"name": "backbone", "autoscaling_config": scaling, "max_ongoing_requests": 16,
             "user_config": {"batching": {"max_batch_size": backbone_batch, "batch_wait_timeout_s": 0.002}}},
            {"name": "head_span", "autoscaling_config": scaling,
             "user_config": {"batching": {"max_batch_size": backbone_batch, "batch_wait_timeout_s": 0.002}}},
        ],
    }


def stats(deployment: str) -> dict:
    from ray import serve

    return serve.get_deployment_handle(deployment, app_name=APP).stats.remote().result(timeout_s=30)


def test_a_scale_and_batch_edit_updates_the_running_replicas_in_place_under_load(service):
    from ray import serve
    from ray.serve.schema import ApplicationStatus, ServeDeploySchema

    client = serve.context._get_global_client()  # what `serve deploy` reaches through the REST API
    url = f"{service.url}{ROUTE}/v1/predict"
    statuses: list[int] = []
    stop = threading.Event()

    def keep_asking() -> None:
        with httpx.Client(timeout=60) as http:
            while not stop.is_set():
                statuses.append(http.post(url, json=BODY).status_code)

    try:
        client.deploy_apps(ServeDeploySchema(applications=[app_config(service.checkpoint, 8, 1)]))
        wait_for(lambda: serve.status().applications.get(APP) and serve.status().applications[APP].status
                 == ApplicationStatus.RUNNING, 300, "the app to run")
        wait_for(lambda: httpx.post(url, json=BODY, timeout=30).status_code == 200, 120, "the app to answer")
        before = {d: stats(d) for d in ("backbone", "head_span")}
        assert before["backbone"]["max_batch_size"] == 8 and before["backbone"]["updates"] == 0

        clients = [threading.Thread(target=keep_asking) for _ in range(3)]
        for thread in clients:
            thread.start()
        wait_for(lambda: len(statuses) >= 5, 60, "requests to flow")
        client.deploy_apps(ServeDeploySchema(applications=[app_config(service.checkpoint, 4, 2)]))
        wait_for(lambda: all(stats(d)["max_batch_size"] == 4 for d in ("backbone", "head_span")), 120,
                 "the new batch size to reach the replicas")
        sent_during = len(statuses)
        wait_for(lambda: len(statuses) >= sent_during + 5, 60, "requests after the update")
        stop.set()
        for thread in clients:
            thread.join(timeout=90)

        for deployment in ("backbone", "head_span"):
            after = stats(deployment)
            assert (after["replica"], after["pid"]) == (before[deployment]["replica"], before[deployment]["pid"]), \
                f"{deployment} was restarted by a deployments-only edit"
            assert after["updates"] == 1
        assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
        assert serve.status().applications[APP].status == ApplicationStatus.RUNNING
        # and Serve runs the new scale: what `serve status` / the dashboard report for the deployment
        deployed = client.get_serve_details()["applications"][APP]["deployments"]["backbone"]["deployment_config"]
        assert deployed["autoscaling_config"]["max_replicas"] == 2 and deployed["user_config"]["batching"]["max_batch_size"] == 4

        # Serve's JSON logs: every replica line is JSON (serve_log_records parses each), and the router's
        # line for a request carries the id the client sent
        request_id = f"json-log-{uuid.uuid4().hex}"
        answer = httpx.post(url, json=BODY, headers={"x-request-id": request_id}, timeout=30)
        assert answer.status_code == 200 and answer.json()["request_id"] == request_id, answer.text

        def lines_of_the_request() -> list[dict]:
            return [r for r in service.serve_log_records(APP) if r.get("request_id") == request_id]

        [line] = wait_for(lines_of_the_request, 30, "the request's id on its line in the router's JSON log")
        assert (line["application"], line["deployment"]) == (APP, f"{APP}_router") and line["replica"], line
        assert line["message"].startswith(f"POST {ROUTE}/v1/predict 200"), line
    finally:
        stop.set()
        serve.delete(APP)
        time.sleep(0.5)
