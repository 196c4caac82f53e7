"""The in-process engine (the router's with backbone.placement: router, the benchmark's baseline,
the tests' real-model router): what a slow, broken or overloaded backbone becomes (a stand-in with
the batches' shape, `encode(call)`), and the real model batched without Ray. Served by a router
replica in tests/integration/test_in_router.py."""
from __future__ import annotations

import asyncio

import pytest

from service.deploy.backbone_batches import Pace
from service.deploy.in_process import InProcessEngine, load_in_process
from service.deploy.stages import BackboneStage
from service.pipeline.calls import EncodeCall, EncodeResult
from service.pipeline.failures import StageError

CALL = EncodeCall(request_id="r1", questions=["q?"], contexts=["a passage"], keep_hidden=False)


class Backbone:
    def __init__(self, delay_s: float = 0.0, error: Exception | None = None, seconds_per_input: float | None = None):
        self.delay_s, self.error, self.calls = delay_s, error, 0
        self.pace = Pace()
        if seconds_per_input is not None:
            self.pace.record(seconds_per_input * 16, 16)  # as if a batch of 16 had run

    async def encode(self, call: EncodeCall) -> EncodeResult:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return EncodeResult(hidden=None, windows_per_input=[1], question_truncated=[False], colocated=[], forward_ms=1.0,
                            pass_inputs=1)


def failure(engine: InProcessEngine, timeout_s: float = 1.0) -> StageError:
    with pytest.raises(StageError) as caught:
        asyncio.run(engine.encode(CALL, timeout_s))
    return caught.value


def test_an_answer_passes_through():
    assert asyncio.run(InProcessEngine(Backbone(), BackboneStage()).encode(CALL, 1.0)).windows_per_input == [1]


def test_a_slow_backbone_is_a_timeout_and_a_raising_one_a_failure_naming_the_class():
    slow = failure(InProcessEngine(Backbone(delay_s=5), BackboneStage()), timeout_s=0.05)
    assert (slow.stage, slow.kind, slow.status) == ("backbone", "timeout", 504)
    broken = failure(InProcessEngine(Backbone(error=RuntimeError("secret input text")), BackboneStage()))
    assert (broken.kind, broken.status) == ("failed", 502) and "RuntimeError" in broken.message
    assert "secret" not in broken.message  # the client never sees the model's own message


def test_calls_beyond_the_backbones_queue_bound_are_refused_at_once_with_retry_after():
    stage = BackboneStage(max_ongoing_requests=2, max_queued_requests=1, batching={"max_batch_size": 2})
    backbone = Backbone(delay_s=0.3)
    engine = InProcessEngine(backbone, stage, retry_after_s=3)

    async def five() -> list:
        return await asyncio.gather(*(engine.encode(CALL, 5.0) for _ in range(5)), return_exceptions=True)

    outcomes = asyncio.run(five())
    refused = [o for o in outcomes if isinstance(o, StageError)]
    assert len(refused) == 2 and backbone.calls == 3  # 2 running + 1 waiting are taken, the rest refused
    assert all(e.kind == "overloaded" and e.status == 503 and e.retry_after_s == 3 for e in refused)
    assert engine.in_flight == 0  # every slot given back


def test_a_wait_bound_refuses_what_the_model_could_not_answer_in_time_and_takes_what_it_could():
    def served(seconds_per_input: float) -> tuple[int, list[StageError]]:
        stage = BackboneStage(max_ongoing_requests=16, max_queued_requests=16, max_queue_wait_s=0.35)
        backbone = Backbone(delay_s=0.2, seconds_per_input=seconds_per_input)
        engine = InProcessEngine(backbone, stage, retry_after_s=2)

        async def five() -> list:
            return await asyncio.gather(*(engine.encode(CALL, 5.0) for _ in range(5)), return_exceptions=True)

        refused = [o for o in asyncio.run(five()) if isinstance(o, StageError)]
        return backbone.calls, refused

    # 0.1 s an input: the 4th call would wait 0.4 s, above 0.35 s; at 10 ms an input all five fit.
    calls, refused = served(0.1)
    assert calls == 3 and len(refused) == 2
    assert all(e.kind == "overloaded" and e.status == 503 and e.retry_after_s == 2 for e in refused)
    assert "max_queue_wait_s 0.35" in refused[0].message
    assert served(0.01) == (5, [])


def test_the_pace_weighs_batches_by_their_inputs_and_forgets_old_ones():
    pace = Pace(decay=0.5)
    assert pace.seconds_for(10) is None  # nothing measured: no wait bound yet
    pace.record(0.16, 16)  # a full batch: 10 ms an input
    pace.record(0.05, 1)  # a lone call pays the whole batch's overhead
    assert 0.014 < pace.seconds_for(1) < 0.015  # (0.08 + 0.05) / (8 + 1): the batch of 16 still dominates
    for _ in range(20):
        pace.record(0.4, 16)  # the model slowed down to 25 ms an input
    assert abs(pace.seconds_for(100) - 2.5) < 0.01


def test_there_are_no_head_replicas_to_call():
    from service.pipeline.calls import HeadCall, HiddenStatesRef

    call = HeadCall(request_id="r1", hidden=HiddenStatesRef(ref=None, nbytes=0, num_inputs=1), inputs=[0])
    with pytest.raises(StageError) as caught:
        asyncio.run(InProcessEngine(Backbone(), BackboneStage()).run_head("span", call, 1.0))
    assert caught.value.kind == "unavailable"
    assert asyncio.run(InProcessEngine(Backbone(), BackboneStage()).readiness(1.0)) == {"backbone": None}


def test_the_real_model_answers_concurrent_calls_in_one_pass_without_ray(random_checkpoint):
    engine = load_in_process(random_checkpoint, BackboneStage(batching={"max_batch_size": 8, "batch_wait_timeout_s": 0.05}))
    calls = [EncodeCall(request_id=f"r{i}", questions=["Who won?"], contexts=[f"Team {i} won the game in {1990 + i}."],
                        keep_hidden=False) for i in range(5)]

    async def together() -> list[EncodeResult]:
        return await asyncio.gather(*(engine.encode(c, 30.0) for c in calls))

    results = asyncio.run(together())
    assert [r.windows_per_input for r in results] == [[1]] * 5
    assert all(r.pass_inputs == 5 for r in results)  # one forward pass carried all five
    assert engine.backbone.stats() == {"forward_passes": 1, "calls_served": 5, "inputs_served": 5, "max_batch_size": 8}
    assert engine.backbone.pace.seconds_for(5) > 0  # the queue's wait bound now has a pace to go by


def test_overlapped_batches_answer_exactly_what_one_thread_answers(random_checkpoint):
    """backbone.overlap_batches runs tokenising, the model and decoding in three threads, two
    batches in flight; the answers must not change."""
    from service.pipeline.calls import ColocatedRequest

    calls = [EncodeCall(request_id=f"r{i}", questions=["Who won?"], contexts=[f"Team {i} beat Team {i + 1} in {1990 + i}."],
                        colocated=[ColocatedRequest(head=h, inputs=[0]) for h in ("span", "multispan", "yesno")],
                        keep_hidden=False) for i in range(7)]

    def answers(overlap: bool) -> tuple[list, int]:
        engine = load_in_process(random_checkpoint, BackboneStage(overlap_batches=overlap,
                                                                  batching={"max_batch_size": 2, "batch_wait_timeout_s": 0.0}))

        async def together() -> list[EncodeResult]:
            return await asyncio.gather(*(engine.encode(c, 30.0) for c in calls))

        results = asyncio.run(together())
        return [[reply.outputs for reply in r.colocated] for r in results], engine.backbone.stats()["forward_passes"]

    def rounded(value):  # scores may differ in the last float bits when batches pad differently
        if isinstance(value, float):
            return round(value, 4)
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return [rounded(v) for v in value] if isinstance(value, list) else value

    overlapped, passes = answers(True)
    assert passes >= 4  # batches of at most 2 inputs
    assert rounded(overlapped) == rounded(answers(False)[0])
