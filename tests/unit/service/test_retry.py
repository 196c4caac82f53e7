"""A stage whose replica died is called once more (target head and backbone only); everything
else fails as before. Over fake stages: no Ray."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from service.pipeline.calls import EncodeCall, EncodeResult, HeadCall, HeadReply
from service.pipeline.failures import StageError
from service.pipeline.predict import Predictor
from service.pipeline.failures import InputLost
from service.pipeline.retry import MIN_RETRY_S, with_one_retry
from service.http.router import create_api
from service.deploy.settings import Limits, Timeouts
from tests.unit.service.fakes import FakeEngine, make_catalog

BODY = {"inputs": {"question": "How many points?", "context": "Stallions won 24 to 20."}}


def lost(stage: str) -> StageError:
    return StageError(stage, "unavailable", "no replica could take the call", 1)


@dataclass
class FlakyEngine(FakeEngine):
    """Raises the queued errors of a stage first, then answers like FakeEngine."""

    queued: dict[str, list[StageError]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def _next_error(self, stage: str) -> StageError | None:
        self.calls[stage] = self.calls.get(stage, 0) + 1
        errors = self.queued.get(stage, [])
        return errors.pop(0) if errors else None

    async def encode(self, call: EncodeCall, timeout_s: float) -> EncodeResult:
        if (err := self._next_error("backbone")) is not None:
            raise err
        return await super().encode(call, timeout_s)

    async def run_head(self, head: str, call: HeadCall, timeout_s: float) -> HeadReply:
        if (err := self._next_error(head)) is not None:
            raise err
        return await super().run_head(head, call, timeout_s)


def post(engine: FlakyEngine, **body) -> tuple[int, dict, dict]:
    catalog = make_catalog()
    engine.catalog = catalog
    predictor = Predictor(engine, catalog, Timeouts(non_target_head_s=0.5, target_head_s=0.5, backbone_s=0.5))
    client = TestClient(create_api(predictor, catalog, Limits(), retry_after_s=2), raise_server_exceptions=False)
    r = client.post("/v1/predict", json={**BODY, **body})
    return r.status_code, r.json(), dict(r.headers)


def test_a_target_head_whose_replica_died_is_called_once_more_and_answers():
    engine = FlakyEngine(make_catalog(), queued={"number": [lost("head_number")]})
    status, body, _ = post(engine, task="drop_number")
    assert status == 200, body
    assert body["target"]["head"] == "number" and body["errors"] == []
    assert engine.calls["number"] == 2


def test_a_target_lost_twice_is_a_503_with_retry_after_after_exactly_two_calls():
    engine = FlakyEngine(make_catalog(), queued={"number": [lost("head_number"), lost("head_number")]})
    status, body, headers = post(engine, task="drop_number")
    assert status == 503 and headers["retry-after"] == "2"
    assert "target head 'number' unavailable" in body["error"]["message"]
    assert engine.calls["number"] == 2


def test_a_lost_non_target_head_is_not_retried_and_lands_in_errors():
    engine = FlakyEngine(make_catalog(), queued={"summary": [lost("head_summary")]})
    status, body, _ = post(engine, task="drop_number")
    assert status == 200
    assert [(e["head"], e["kind"]) for e in body["errors"]] == [("summary", "unavailable")] and body["degraded"]
    assert engine.calls["summary"] == 1


@pytest.mark.parametrize("error, status", [
    (StageError("head_number", "overloaded", "its queue is full", 1), 503),
    (StageError("head_number", "failed", "raised ValueError"), 502),
    (InputLost("head_number", "its input was lost with the replica that stored it", 1), 503),
])
def test_overload_model_errors_and_lost_inputs_are_never_retried(error, status):
    engine = FlakyEngine(make_catalog(), queued={"number": [error]})
    code, _, _ = post(engine, task="drop_number")
    assert code == status
    assert engine.calls["number"] == 1


def test_a_backbone_replica_lost_mid_call_is_retried_once():
    engine = FlakyEngine(make_catalog(), queued={"backbone": [lost("backbone")]})
    status, body, _ = post(engine, task="squad")
    assert status == 200 and body["errors"] == []
    assert engine.calls["backbone"] == 2 and len(engine.encode_calls) == 1  # the failed call never reached the fake


def test_the_retry_gets_only_the_time_the_first_call_left_and_a_retry_timeout_reads_as_unavailable():
    budgets: list[float] = []

    async def call(timeout_s: float) -> str:
        budgets.append(timeout_s)
        if len(budgets) == 1:
            await asyncio.sleep(0.2)
            raise lost("head_span")
        raise StageError("head_span", "timeout", f"no answer within {timeout_s:g} s")

    with pytest.raises(StageError) as caught:
        asyncio.run(with_one_retry(call, 1.0, "r1"))
    assert caught.value.kind == "unavailable" and "none answered within the remaining" in caught.value.message
    assert budgets[0] == 1.0 and 0.7 < budgets[1] <= 0.8 + 1e-6


def test_no_retry_when_the_first_call_used_up_the_budget():
    calls = 0

    async def call(timeout_s: float) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(timeout_s - MIN_RETRY_S / 2)
        raise lost("head_span")

    with pytest.raises(StageError, match="no replica could take the call"):
        asyncio.run(with_one_retry(call, 0.3, "r2"))
    assert calls == 1
