"""Single requests that arrive together share one pass through the stages (service/pipeline/merge.py),
and each still gets its own answer or its own error."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from service.deploy.settings import Limits, Timeouts
from service.http.router import create_api
from service.pipeline.failures import StageError, TargetFailed
from service.pipeline.merge import RequestMerger
from service.pipeline.predict import Predictor
from tests.unit.service.fakes import FakeEngine, make_catalog


class Recorder:
    """A pass that answers each plan with itself doubled, after `delay_s`; remembers every pass."""

    def __init__(self, delay_s: float = 0.02, fail: Exception | None = None):
        self.passes: list[list[int]] = []
        self.delay_s, self.fail = delay_s, fail

    async def __call__(self, plans: list[int], request_id: str):
        self.passes.append(list(plans))
        await asyncio.sleep(self.delay_s)
        if self.fail is not None:
            raise self.fail
        return [p * 2 for p in plans], {"ids": request_id}


def run(merger: RequestMerger, plans: list[int]):
    async def go():
        return await asyncio.gather(*(merger(p, f"r{p}") for p in plans), return_exceptions=True)

    return asyncio.run(go())


def test_a_lone_request_goes_at_once_and_the_ones_that_wait_go_together():
    record = Recorder()
    merger = RequestMerger(record, max_inputs=4, max_in_flight=1, max_wait_s=10)
    answers = run(merger, list(range(9)))
    assert [a for a, _ in answers] == [p * 2 for p in range(9)]
    # the first goes alone; the 8 that arrived meanwhile go 4 and 4
    assert record.passes == [[0], [1, 2, 3, 4], [5, 6, 7, 8]]
    assert answers[2][1] == {"ids": "r1,r2,r3,r4"}


def test_several_passes_run_at_once_up_to_max_in_flight():
    record = Recorder()
    merger = RequestMerger(record, max_inputs=16, max_in_flight=3, max_wait_s=10)
    run(merger, list(range(10)))
    assert record.passes[:3] == [[0], [1], [2]] and record.passes[3] == list(range(3, 10))


def test_a_failed_pass_fails_each_of_its_requests_and_only_them():
    stage_error = StageError("backbone", "timeout", "no answer within 1 s")
    merger = RequestMerger(Recorder(fail=stage_error), max_inputs=4, max_in_flight=2, max_wait_s=10)
    answers = run(merger, [1, 2, 3])
    assert all(a is stage_error for a in answers)


def test_a_request_that_waits_past_max_wait_is_refused_as_overloaded():
    merger = RequestMerger(Recorder(delay_s=0.2), max_inputs=4, max_in_flight=1, max_wait_s=0.05)
    answers = run(merger, [1, 2])
    assert answers[0][0] == 2
    assert isinstance(answers[1], StageError) and answers[1].kind == "overloaded" and answers[1].retry_after_s == 1.0


def test_limits_are_checked():
    with pytest.raises(ValueError, match="max_in_flight"):
        RequestMerger(Recorder(), max_inputs=4, max_in_flight=0, max_wait_s=1)


def test_concurrent_http_requests_share_backbone_and_head_calls_and_keep_their_own_answers():
    catalog = make_catalog()
    engine = FakeEngine(catalog)
    engine.failures["number"] = "error"  # the target of drop_number fails: those requests fail alone
    predictor = Predictor(engine, catalog, Timeouts(non_target_head_s=1, target_head_s=1))
    app = create_api(predictor, catalog, Limits(max_batch_items=8), retry_after_s=2)
    contexts = [f"Word{i} and more text" for i in range(12)]

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await asyncio.gather(*(
                client.post("/v1/predict", json={"task": "drop_number" if i == 5 else "squad", "inputs": {"question": "q?", "context": c}})
                for i, c in enumerate(contexts)))

    responses = asyncio.run(go())
    assert [r.status_code for r in responses] == [502 if i == 5 else 200 for i in range(12)]
    for c, r in zip(contexts, responses):
        if r.status_code == 200:
            assert r.json()["target"]["output"]["text"] == c.split()[0]  # its own input's answer
    assert len(engine.encode_calls) < len(contexts)  # merged: fewer backbone calls than requests
    assert sum(len(c.contexts) for c in engine.encode_calls) == len(contexts)
    assert max(len(c.contexts) for c in engine.encode_calls) <= 8
    span_calls = [call for head, call in engine.head_calls if head == "span"]
    assert len(span_calls) == len(engine.encode_calls)  # one call per head per pass, not per request
    assert app.state.merged.passes == len(engine.encode_calls)


def test_an_engine_that_batches_in_this_process_gets_each_request_alone():
    # one batching point per process: the in-process engine's batcher merges, the router does not
    catalog = make_catalog()
    engine = FakeEngine(catalog)
    engine.calls_cross_processes = False
    app = create_api(Predictor(engine, catalog, Timeouts()), catalog, Limits(max_batch_items=8))

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await asyncio.gather(*(client.post("/v1/predict", json={"task": "squad", "inputs": {"question": "q?", "context": f"W{i} x"}})
                                          for i in range(6)))

    assert [r.status_code for r in asyncio.run(go())] == [200] * 6
    assert [len(c.contexts) for c in engine.encode_calls] == [1] * 6


def test_a_target_failure_in_a_batch_request_still_fails_the_whole_batch():
    catalog = make_catalog()
    engine = FakeEngine(catalog)
    engine.failures["number"] = "error"
    predictor = Predictor(engine, catalog, Timeouts())
    planned_error = None

    async def go():
        from service.http.schemas import PredictRequest
        from service.pipeline.predict import plan

        items = [plan(PredictRequest(task=t, inputs={"question": "q?", "context": "A b."}).query(), catalog, Limits())
                 for t in ("squad", "drop_number", "drop_number")]
        return await predictor.predict(items, "rid")

    try:
        asyncio.run(go())
    except TargetFailed as err:
        planned_error = err
    assert planned_error is not None and planned_error.head == "number" and planned_error.items == [1, 2]
