"""An edit of Serve's `deployments:` section reaches the running replicas in place.

A small application is deployed declaratively (what `serve deploy` and the REST API do) with its
replicas, queues and batching in `deployments:`; then, while clients keep sending requests, the
same config is deployed again with a larger `max_replicas` and a smaller batch. The backbone and
head replicas must be the same replicas in the same processes afterwards (no restart, no reload of
the checkpoint), their batchers must use the new size, and every request must have been answered.
The application logs in JSON (`logging: {encoding: JSON}`): each replica's log lines are JSON, and a
request's lines carry the id the client sent as x-request-id.

A checkpoint swap is an edit of the same section: the router that runs the whole model
(`backbone.placement: router`) takes `checkpoint` in its user_config, loads it beside the one
answering and swaps; a broken one is refused while the running checkpoint keeps answering.

Named to run after test_service.py, as test_update_to_a_broken_checkpoint.py is (its second
application's backbone exports the series the metrics test adds up).
"""
from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager

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


@contextmanager
def clients_asking(url: str, answers: list):
    """Three clients sending requests until the block ends; each answer's (status, checkpoint hash)."""
    stop = threading.Event()

    def keep_asking() -> None:
        with httpx.Client(timeout=60) as http:
            while not stop.is_set():
                r = http.post(url, json=BODY)
                answers.append((r.status_code, r.json().get("checkpoint", {}).get("hash") if r.status_code == 200 else r.text))

    threads = [threading.Thread(target=keep_asking) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=90)


def test_a_scale_and_batch_edit_updates_the_running_replicas_in_place_under_load(service):
    from ray import serve
    from ray.serve.schema import ApplicationStatus, ServeDeploySchema

    client = serve.context._get_global_client()  # what `serve deploy` reaches through the REST API
    url = f"{service.url}{ROUTE}/v1/predict"
    answers: list = []
    try:
        client.deploy_apps(ServeDeploySchema(applications=[app_config(service.checkpoint, 8, 1)]))
        wait_for(lambda: serve.status().applications.get(APP) and serve.status().applications[APP].status
                 == ApplicationStatus.RUNNING, 300, "the app to run")
        wait_for(lambda: httpx.post(url, json=BODY, timeout=30).status_code == 200, 120, "the app to answer")
        before = {d: stats(d) for d in ("backbone", "head_span")}
        assert before["backbone"]["max_batch_size"] == 8 and before["backbone"]["updates"] == 0

        with clients_asking(url, answers):
            wait_for(lambda: len(answers) >= 5, 60, "requests to flow")
            client.deploy_apps(ServeDeploySchema(applications=[app_config(service.checkpoint, 4, 2)]))
            wait_for(lambda: all(stats(d)["max_batch_size"] == 4 for d in ("backbone", "head_span")), 120,
                     "the new batch size to reach the replicas")
            sent_during = len(answers)
            wait_for(lambda: len(answers) >= sent_during + 5, 60, "requests after the update")
        statuses = [status for status, _ in answers]

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
        serve.delete(APP)
        wait_for(lambda: APP not in serve.status().applications, 60, f"{APP} to be deleted")


SWAP_APP, SWAP_ROUTE = "wiyh-swap", "/swap"


def swap_config(checkpoint, user_checkpoint) -> dict:
    return {
        "name": SWAP_APP, "route_prefix": SWAP_ROUTE, "import_path": "service.deploy.app:build_app",
        "args": {"checkpoint": str(checkpoint), "router": TINY,
                 "backbone": {**TINY, "placement": "router", "torch_threads": 1},
                 "heads": {"default": {**TINY, "placement": "colocated"}}, "limits": {"max_batch_items": 4}},
        "deployments": [{"name": "router", "num_replicas": 1, "max_ongoing_requests": 16,
                         "user_config": {"batching": {"max_batch_size": 4, "batch_wait_timeout_s": 0.002},
                                         "checkpoint": str(user_checkpoint)}}],
    }


def test_a_checkpoint_swap_in_user_config_reloads_in_place_and_a_broken_one_is_refused(service, tmp_path):
    from ray import serve
    from ray.serve.schema import ApplicationStatus, ServeDeploySchema

    from model.checkpoint import read_manifest
    from training.testing import make_random_checkpoint, truncated_copy

    other = tmp_path / "other"
    make_random_checkpoint(other, seed=1)  # the same heads and tasks, other weights
    broken = truncated_copy(other, tmp_path / "broken")
    old, new = service.manifest.checkpoint_hash, read_manifest(other).checkpoint_hash

    client = serve.context._get_global_client()  # what `serve deploy` reaches through the REST API
    url = f"{service.url}{SWAP_ROUTE}/v1/predict"

    def router_stats() -> dict:
        return serve.get_deployment_handle("router", app_name=SWAP_APP).stats.remote().result(timeout_s=30)

    def deploy(user_checkpoint) -> None:
        client.deploy_apps(ServeDeploySchema(applications=[swap_config(service.checkpoint, user_checkpoint)]))

    answers: list = []
    try:
        deploy(service.checkpoint)
        wait_for(lambda: httpx.post(url, json=BODY, timeout=30).status_code == 200, 300, "the app to answer")
        before = router_stats()
        assert before["checkpoint"] == old and before["checkpoint_swaps"] == 0

        with clients_asking(url, answers):
            wait_for(lambda: len(answers) >= 5, 60, "requests to flow")
            deploy(other)
            wait_for(lambda: router_stats()["checkpoint"] == new, 120, "the new checkpoint in the router replica")
            sent = len(answers)
            wait_for(lambda: len(answers) >= sent + 5, 60, "answers after the swap")
            deploy(broken)
            wait_for(lambda: router_stats()["checkpoint_refused"], 120, "the broken checkpoint to be refused")
            sent = len(answers)
            wait_for(lambda: len(answers) >= sent + 5, 60, "answers after the refusal")

        statuses = {status for status, _ in answers}
        assert statuses == {200}, [a for a in answers if a[0] != 200][:3]
        hashes = [h for _, h in answers]
        assert hashes[0] == old and hashes[-1] == new and set(hashes) == {old, new}
        # Once the first answer of the new checkpoint is out, only requests already under way (one per
        # client at most) may still finish on the old one.
        late = hashes[hashes.index(new):].count(old)
        assert late <= 3, f"{late} answers of the old checkpoint after the swap"
        after = router_stats()
        assert (after["replica"], after["pid"]) == (before["replica"], before["pid"]), "the swap restarted the replica"
        assert after["checkpoint"] == new and after["checkpoint_swaps"] == 1
        assert "heads/span.safetensors" in after["checkpoint_refused"], after["checkpoint_refused"]
        assert serve.status().applications[SWAP_APP].status == ApplicationStatus.RUNNING
    finally:
        serve.delete(SWAP_APP)
        wait_for(lambda: SWAP_APP not in serve.status().applications, 60, f"{SWAP_APP} to be deleted")
