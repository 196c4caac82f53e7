"""The engine over Serve handles: what a call that times out is reported as. No cluster: the
handles are stand-ins with Serve's shape (`deployment_name`, `.method.remote()` -> awaitable with
`cancel()`)."""
from __future__ import annotations

import asyncio

import pytest

from service.deploy.ray_engine import RayEngine
from service.pipeline.calls import HeadCall, HiddenStatesRef
from service.pipeline.failures import StageError


class SilentResponse:
    """A call no replica ever takes (Serve's handle holding it while a replica is replaced)."""

    def __init__(self) -> None:
        self.cancelled = False

    def __await__(self):
        return asyncio.sleep(3600).__await__()

    def cancel(self) -> None:
        self.cancelled = True


class SilentHandle:
    def __init__(self, deployment_name: str):
        self.deployment_name = deployment_name
        self.responses: list[SilentResponse] = []

    @property
    def predict(self):
        handle = self

        class Method:
            @staticmethod
            def remote(*args) -> SilentResponse:
                handle.responses.append(SilentResponse())
                return handle.responses[-1]

        return Method


def call_number(engine: RayEngine) -> StageError:
    call = HeadCall(request_id="r1", hidden=HiddenStatesRef(ref=None, nbytes=0, num_inputs=1), inputs=[0])
    with pytest.raises(StageError) as caught:
        asyncio.run(engine.run_head("number", call, 0.05))
    return caught.value


@pytest.mark.parametrize("lost, kind", [(True, "unavailable"), (False, "timeout")])
def test_a_timeout_is_unavailable_only_when_a_replica_died_unnoticed(lost, kind):
    asked: list[str] = []
    handle = SilentHandle("head_number")

    def lost_unnoticed(deployment: str) -> bool:
        asked.append(deployment)
        return lost

    engine = RayEngine(SilentHandle("backbone"), {"number": handle}, retry_after_s=2, lost_unnoticed=lost_unnoticed)
    error = call_number(engine)
    assert (error.stage, error.kind) == ("head_number", kind)
    assert (error.retry_after_s == 2) == lost
    assert asked == ["head_number"] and handle.responses[0].cancelled


def test_liveness_that_cannot_be_read_leaves_a_timeout_a_timeout():
    def broken(deployment: str) -> bool:
        raise RuntimeError("no GCS")

    engine = RayEngine(SilentHandle("backbone"), {"number": SilentHandle("head_number")}, lost_unnoticed=broken)
    assert call_number(engine).kind == "timeout"


def test_lost_unnoticed_answers_false_without_a_ray_connection():
    from service.deploy.liveness import lost_unnoticed

    assert lost_unnoticed("wiyh", "head_number") is False  # unknown is not "lost"
