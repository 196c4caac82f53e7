"""What the request path records, as a protocol: the router's Serve replica passes
deploy/metrics.RouterMetrics (Prometheus, through Ray), tests pass a recorder or NullMetrics; a model
stage records its batches (StageRecorder: StageMetrics in a replica, NullStageMetrics in process)."""
from __future__ import annotations

from typing import Protocol


class PipelineMetrics(Protocol):
    """What the router records; tests pass a recorder, Serve replicas pass RouterMetrics."""

    def head_call(self, head: str, role: str, outcome: str, ms: float) -> None: ...
    def error(self, stage: str, kind: str) -> None: ...
    def degraded(self, head: str) -> None: ...
    def request(self, endpoint: str, status: int, ms: float) -> None: ...


class NullMetrics:
    def head_call(self, head: str, role: str, outcome: str, ms: float) -> None:
        pass

    def error(self, stage: str, kind: str) -> None:
        pass

    def degraded(self, head: str) -> None:
        pass

    def request(self, endpoint: str, status: int, ms: float) -> None:
        pass


class StageRecorder(Protocol):
    """What a model stage records per batch; Serve replicas pass deploy/metrics.StageMetrics."""

    def batch(self, size: int, ms: float) -> None: ...
    def hidden_bytes(self, direction: str, nbytes: int) -> None: ...


class NullStageMetrics:
    """For the model stages run in a process without Ray (the in-process engine)."""

    def batch(self, size: int, ms: float) -> None:
        pass

    def hidden_bytes(self, direction: str, nbytes: int) -> None:
        pass
