"""Our Prometheus metrics, next to Ray Serve's built-in ones.

Each deployment creates its metrics once, in its constructor, with fixed label keys (never per
request). Ray exports them from every node's metrics agent with a `ray_` prefix, e.g.
`ray_wiyh_head_latency_ms_bucket{head="span",role="target",...}`; Serve adds deployment, replica
and application labels.
"""
from __future__ import annotations

LATENCY_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128]


class RouterMetrics:
    def __init__(self) -> None:
        from ray.serve.metrics import Counter, Histogram

        self._head_latency = Histogram(
            "wiyh_head_latency_ms", description="Router-observed latency of one head call (ms).",
            boundaries=LATENCY_MS, tag_keys=("head", "role"))
        self._head_requests = Counter(
            "wiyh_head_requests_total", description="Head calls by head, role (target/non_target) and outcome.",
            tag_keys=("head", "role", "outcome"))
        self._errors = Counter(
            "wiyh_errors_total", description="Errors by stage and kind (validation, timeout, overloaded, failed, unavailable, internal).",
            tag_keys=("stage", "kind"))
        self._degraded = Counter(
            "wiyh_degraded_answers_total", description="Answers returned without a non-target head's output.",
            tag_keys=("head",))
        self._requests = Counter(
            "wiyh_requests_total", description="HTTP requests by endpoint and status.", tag_keys=("endpoint", "status"))
        self._latency = Histogram(
            "wiyh_request_latency_ms", description="End-to-end latency inside the router (ms).",
            boundaries=LATENCY_MS, tag_keys=("endpoint",))

    def head_call(self, head: str, role: str, outcome: str, ms: float) -> None:
        self._head_requests.inc(tags={"head": head, "role": role, "outcome": outcome})
        self._head_latency.observe(ms, tags={"head": head, "role": role})

    def error(self, stage: str, kind: str) -> None:
        self._errors.inc(tags={"stage": stage, "kind": kind})

    def degraded(self, head: str) -> None:
        self._degraded.inc(tags={"head": head})

    def request(self, endpoint: str, status: int, ms: float) -> None:
        self._requests.inc(tags={"endpoint": endpoint, "status": str(status)})
        self._latency.observe(ms, tags={"endpoint": endpoint})


class StageMetrics:
    """A model stage (the backbone, or one head): batch sizes, forward passes, bytes moved."""

    def __init__(self, stage: str) -> None:
        from ray.serve.metrics import Counter, Histogram

        self.stage = stage
        self._batch = Histogram(
            "wiyh_batch_size", description="Inputs per batched call, by stage.", boundaries=BATCH_SIZES, tag_keys=("stage",))
        self._forward = Counter(
            "wiyh_forward_passes_total", description="Batched forward passes, by stage.", tag_keys=("stage",))
        self._forward_ms = Histogram(
            "wiyh_forward_ms", description="Time of one batched pass, by stage (ms).", boundaries=LATENCY_MS, tag_keys=("stage",))
        self._bytes = Counter(
            "wiyh_hidden_state_bytes_total",
            description="Bytes of hidden states: stored once by the backbone (direction=stored), read by a head replica (direction=read).",
            tag_keys=("stage", "direction"))

    def batch(self, size: int, ms: float) -> None:
        tags = {"stage": self.stage}
        self._batch.observe(size, tags=tags)
        self._forward.inc(tags=tags)
        self._forward_ms.observe(ms, tags=tags)

    def hidden_bytes(self, direction: str, nbytes: int) -> None:
        if nbytes:
            self._bytes.inc(nbytes, tags={"stage": self.stage, "direction": direction})
