"""The Serve application under test: started on 127.0.0.1 with a given placement of the heads,
called over HTTP, every answer checked."""
from __future__ import annotations

import copy
import socket
import statistics
import time
from typing import Any, Literal

import httpx

from loadtests.checks import Catalog, check_predict

Placement = Literal["replica", "colocated"]


def free_port() -> int:
    """A free port on 127.0.0.1 outside 10002-19999, which Ray keeps for its workers (a port there
    may be taken later, and a metrics port there is refused)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not 10002 <= port <= 19999:
            return port


def placement_args(base: dict[str, Any], placement: Placement, checkpoint: str, head_names: list[str]) -> dict[str, Any]:
    """The deploy config's `args:` with one replica per stage (autoscaling would blur the rows)
    and every head in `placement`."""
    args = copy.deepcopy(base)
    args["checkpoint"] = checkpoint
    single = {"autoscaling": None, "num_replicas": 1}
    for stage in (args.setdefault("router", {}), args.setdefault("backbone", {}), args.setdefault("heads", {}).setdefault("default", {})):
        stage.update(single)
    args["heads"]["overrides"] = {name: {"placement": placement} for name in head_names}
    if placement == "replica":
        fit_gpu_fractions(args, len(head_names))
    return args


def fit_gpu_fractions(args: dict[str, Any], replica_heads: int) -> None:
    """Head replicas that ask for a GPU share what the backbone leaves of one device: eight heads
    at the GPU config's 0.1 each plus the backbone's 0.5 would ask for 1.3 GPUs and never start."""
    head = args["heads"]["default"]
    wanted = head.get("num_gpus", 0) * replica_heads
    left = 1.0 - args.get("backbone", {}).get("num_gpus", 0)
    if wanted > left > 0:
        head["num_gpus"] = left / replica_heads


def wait_ready(url: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} was not ready within {timeout_s:g} s")
        time.sleep(0.5)


class ServeCaller:
    """POST /v1/predict; the answer is checked (status, target, every requested head), and its
    timings_ms kept so a cell can say where the time went."""

    def __init__(self, url: str):
        self.catalog = Catalog.from_heads_response(httpx.get(f"{url}/v1/heads", timeout=10).json())
        self.client = httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=64))
        self.timings: list[dict[str, Any]] = []

    async def __call__(self, request: dict[str, Any]) -> list[str]:
        response = await self.client.post("/v1/predict", json=request)
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        if response.status_code == 200 and isinstance(body, dict) and "timings_ms" in body:
            self.timings.append(body["timings_ms"])
        return check_predict(response.status_code, body, request, self.catalog)

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
