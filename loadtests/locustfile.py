"""Locust users for the service; every answer is checked and a failed check is a failed request
(docs/service.md, "Load tests and autoscaling"): PredictUser (one input), BatchUser (2-8 inputs on
/v1/predict/batch), BurstUser (12 requests at once, then quiet). $WIYH_API_KEY, when set, is sent
as `Authorization: Bearer <key>`. Pick classes by naming them at the end of the command.

    .venv/bin/locust -f loadtests/locustfile.py --headless --host http://127.0.0.1:8000 \\
        -u 8 -r 2 -t 60s --csv reports/locust/run --html reports/locust/report.html
"""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any

import gevent
from gevent.pool import Group
from locust import FastHttpUser, between, task

# locust puts this file's folder on sys.path, not the repository root that `loadtests` lives in.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadtests.traffic import Catalog, body_of, check_answer, sample_requests  # noqa: E402

REQUESTS = sample_requests(30)
HEADERS = {"Authorization": f"Bearer {key}"} if (key := os.environ.get("WIYH_API_KEY")) else {}
_catalog: Catalog | None = None


class _ServiceUser(FastHttpUser):
    abstract = True

    def on_start(self) -> None:
        global _catalog
        if _catalog is None:  # one GET /v1/heads per locust process, shared by its users
            with self.client.get("/v1/heads", headers=HEADERS, name="/v1/heads", catch_response=True) as r:
                if r.status_code != 200:
                    r.failure(f"HTTP {r.status_code}: cannot read the heads and tasks")
                    raise gevent.GreenletExit()
                _catalog = Catalog.from_heads_response(r.json())

    def post(self, path: str, request: dict[str, Any], name: str) -> None:
        with self.client.post(path, json=request, headers=HEADERS, name=name, catch_response=True) as r:
            problems = check_answer(r.status_code, body_of(r), request, _catalog)  # type: ignore[arg-type]
            if problems:
                r.failure("; ".join(problems[:3]))


class PredictUser(_ServiceUser):
    weight = 6
    wait_time = between(0.05, 0.3)

    @task
    def single(self) -> None:
        request = random.choice(REQUESTS)
        self.post("/v1/predict", request, f"/v1/predict [{request['task']}]")


class BatchUser(_ServiceUser):
    weight = 2
    wait_time = between(0.2, 1.0)

    @task
    def batch(self) -> None:
        size = random.randint(2, max(2, min(8, _catalog.max_batch_items if _catalog else 8)))
        self.post("/v1/predict/batch", {"items": random.sample(REQUESTS, size)}, "/v1/predict/batch")


class BurstUser(_ServiceUser):
    """Many requests at the same instant: what the batcher and the queue bounds are for."""

    weight = 1
    wait_time = between(3, 6)

    @task
    def burst(self) -> None:
        group = Group()
        for request in random.sample(REQUESTS, 12):
            group.spawn(self.post, "/v1/predict", request, "/v1/predict [burst]")
        group.join()
