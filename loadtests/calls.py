"""Calls to the service over HTTP, for the loops of loadtests/loop.py: each answer kept as it came
(`Http`), or checked as the locust users check it (`ServeCaller`)."""
from __future__ import annotations

import statistics
from typing import Any

import httpx

from loadtests.checks import Catalog, body_of, check_batch, check_predict
from loadtests.loop import Outcome

# An open loop keeps sending whatever the service does: many requests may wait at once.
OPEN_LOOP = httpx.Limits(max_connections=2000, max_keepalive_connections=200)


class Http:
    """POST /v1/predict, or /v1/predict/batch for a {"items": [...]} request, on one pooled client.
    Any status but 200 is a problem; the Outcome keeps the status, the body and Retry-After."""

    def __init__(self, url: str, limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
                 timeout_s: float = 60.0):
        self.client = httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits)

    async def __call__(self, request: dict[str, Any]) -> Outcome:
        response = await self.client.post("/v1/predict/batch" if "items" in request else "/v1/predict", json=request)
        return Outcome([] if response.status_code == 200 else [f"HTTP {response.status_code}"], status=response.status_code,
                       body=body_of(response), retry_after=response.headers.get("retry-after"))


class ServeCaller(Http):
    """Every answer checked (status, target, every requested head), and its timings_ms kept so a
    cell can say where the time went."""

    def __init__(self, url: str):
        super().__init__(url, httpx.Limits(max_connections=64))
        self.catalog = Catalog.from_heads_response(httpx.get(f"{url}/v1/heads", timeout=10).json())
        self.timings: list[dict[str, Any]] = []

    async def __call__(self, request: dict[str, Any]) -> Outcome:
        outcome = await super().__call__(request)
        status, body = outcome.status or 0, outcome.body
        if "items" in request:
            outcome.problems = check_batch(status, body, request["items"], self.catalog)
            return outcome
        if status == 200 and isinstance(body, dict) and "timings_ms" in body:
            self.timings.append(body["timings_ms"])
        outcome.problems = check_predict(status, body, request, self.catalog)
        return outcome

    def breakdown(self) -> dict[str, float]:
        """Means over the answers since the last call: router total, backbone call, the forward
        pass, the slowest head replica call, and inputs per backbone pass."""
        timed, self.timings = self.timings, []
        if not timed:
            return {}
        return {
            "router_total_ms": statistics.mean(t["total"] for t in timed),
            "backbone_call_ms": statistics.mean(t["backbone"] for t in timed),
            "backbone_forward_ms": statistics.mean(t["backbone_forward"] for t in timed),
            "slowest_head_call_ms": statistics.mean(max(t["heads"].values(), default=0.0) for t in timed),
            "backbone_batch_inputs": statistics.mean(t["backbone_batch_inputs"] for t in timed),
        }
