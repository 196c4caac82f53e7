"""Starts the real Serve application once for tests/integration/, on 127.0.0.1, with a random
tiny checkpoint: the settings of deploy/serve_config.yaml, plus what the tests need (fixed single
replicas, short timeouts, small queues so overload is reachable, and injected faults that fire
only on inputs carrying a trigger word)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from loadtests.serving import LocalServe, free_port
from service.deploy.serve_config import file_args
from service.deploy.settings import deep_merge

ROOT = Path(__file__).resolve().parents[2]

FAIL = "WIYH-FAIL"  # multispan (replica) raises
COLOCATED_FAIL = "WIYH-COLOCATED-FAIL"  # yesno (colocated) raises
HANG = "WIYH-HANG"  # summary (replica) sleeps past its timeout
NON_TARGET_TIMEOUT_S = 1.5
HANG_S = 2.5
MAX_BODY_BYTES = 32 * 1024
ROUTER_SLOTS = 4  # max_ongoing_requests, and as many queued: beyond that, 503 at once


def wait_for(condition: Callable[[], Any], deadline_s: float, what: str, every_s: float = 0.2) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` after the deadline."""
    end = time.monotonic() + deadline_s
    last_error: Exception | None = None
    while time.monotonic() < end:
        try:
            value = condition()
            if value:
                return value
        except Exception as err:  # not up yet: keep polling until the deadline
            last_error = err
        time.sleep(every_s)
    raise AssertionError(f"timed out after {deadline_s:g} s waiting for {what} (last error: {last_error!r})")


def service_args(checkpoint: Path) -> dict[str, Any]:
    args = file_args(ROOT / "deploy" / "serve_config.yaml")
    single = {"autoscaling": None, "num_replicas": 1}
    # The tests need both placements, whatever the deploy config chose: these replace its overrides.
    args["heads"]["overrides"] = {}
    return deep_merge(args, {
        "checkpoint": str(checkpoint),
        "router": {**single, "max_ongoing_requests": ROUTER_SLOTS, "max_queued_requests": ROUTER_SLOTS, "retry_after_s": 2},
        # Its own deployment (heads below are replicas), whose queue is Serve's: no in-router wait
        # bound, which would have to stay below the short backbone timeout here.
        "backbone": {**single, "torch_threads": 1, "placement": "replica", "max_queue_wait_s": None},
        "heads": {
            "default": {**single, "placement": "replica"},
            "overrides": {
                "answer_type": {"placement": "colocated"},
                "yesno": {"placement": "colocated", "fault": {"mode": "raise", "trigger": COLOCATED_FAIL}},
                "multispan": {"fault": {"mode": "raise", "trigger": FAIL}},
                "summary": {"fault": {"mode": "hang", "trigger": HANG, "hang_s": HANG_S}},
            },
        },
        "limits": {"max_body_bytes": MAX_BODY_BYTES, "max_batch_items": 8},
        "timeouts": {"non_target_head_s": NON_TARGET_TIMEOUT_S, "target_head_s": 3, "backbone_s": 5},
    })


@dataclass
class Service:
    url: str
    metrics_url: str
    checkpoint: Path
    app_name: str
    manifest: Any
    cluster_dir: Path  # the cluster's Ray temp dir: its sessions, their logs

    def serve_log_records(self, app: str) -> list[dict[str, Any]]:
        """Every line of the replica logs of `app` (logs/serve/replica_<app>_*.log), each parsed
        as JSON: an app with `logging: {encoding: JSON}` writes nothing else there."""
        import json

        records = []
        for path in sorted(self.cluster_dir.rglob(f"logs/serve/replica_{app}_*.log")):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    raise AssertionError(f"{path.name}:{n} is not a JSON line: {line[:200]!r}") from None
        return records

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def backbone_stats(self) -> dict[str, int]:
        from ray import serve

        return serve.get_deployment_handle("backbone", app_name=self.app_name).stats.remote().result(timeout_s=10)

    def head_stats(self, head: str) -> dict[str, int]:
        from ray import serve

        return serve.get_deployment_handle(f"head_{head}", app_name=self.app_name).stats.remote().result(timeout_s=10)


# Package scope: stopped after the last integration test. Session-scoped it lived on through every
# unit test that pytest runs after tests/integration/ (15 Ray processes, 0.32 of a core idle: health
# checks, the controller's loop, metrics every second) and was torn down after the last one.
@pytest.fixture(scope="package")
def service(tmp_path_factory) -> Service:
    from model.checkpoint import read_manifest
    from training.testing import make_random_checkpoint

    checkpoint = tmp_path_factory.mktemp("service") / "tiny-random"
    make_random_checkpoint(checkpoint, seed=0)
    metrics_port = free_port()
    # Export metrics every second (default 10 s) so the metrics test waits less.
    with LocalServe(num_cpus=2, metrics_port=metrics_port, system_config={"metrics_report_interval_ms": 1000}) as local:
        url = local.deploy(service_args(checkpoint), "wiyh", ready_timeout_s=120)
        yield Service(url=url, metrics_url=f"http://127.0.0.1:{metrics_port}/metrics", checkpoint=checkpoint,
                      app_name="wiyh", manifest=read_manifest(checkpoint), cluster_dir=local.temp_dir)
