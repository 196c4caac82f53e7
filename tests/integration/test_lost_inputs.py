"""Hidden states the backbone computed stay readable for every head of the request.

A reference the backbone `ray.put()` and nested in its answer would be owned by the replica, and Ray
can lose the caller's borrow of a reference nested in an item of the streaming generator Serve
answers with (ray-project/ray#58080): the owner frees the object under the heads (with that
ownership put back, this test loses reads: docs/results.md, "Lost inputs"). So the backbone
returns them in its answer, the router owns that answer, and RayEngine hands it to every head as a
top-level argument. This test takes the router's place with the router's own engine: a steady flow
of encode calls, each answer handed to a head replica after a full garbage collection (what
provoked the lost borrow); every read must succeed, however long the router took to pass it on.
The load test over HTTP is `python -m loadtests.lost_inputs`.
"""
from __future__ import annotations

import asyncio
import gc
from collections import Counter

import pytest

from service.deploy.ray_engine import RayEngine
from service.pipeline.calls import EncodeCall, HeadCall
from service.pipeline.failures import InputLost, StageError

pytestmark = pytest.mark.integration

# A full gc.collect() per call is what provoked the lost borrow (the youngest generation alone did
# not), and it costs up to a second per call in the whole suite's heap: 80 calls keep the test short.
CALLS = 80
# A new handle queues its first calls until it learns the replicas, and refuses past the backbone's
# max_queued_requests: one call first, then at most this many encode calls at once.
AT_ONCE = 8
# Generous: a slow call under load is not what this test is about, a lost input is.
TIMEOUT_S = 60


def test_every_head_reads_the_hidden_states_the_backbone_answered_with(service):
    from ray import serve

    backbone = serve.get_deployment_handle("backbone", app_name=service.app_name)
    engine = RayEngine(backbone, {"span": serve.get_deployment_handle("head_span", app_name=service.app_name)})
    calls = [EncodeCall(request_id=f"held-{i}", questions=[f"Which number comes after {i}?"],
                        contexts=[f"The count went {i}, {i + 1}, {i + 2} and stopped there."]) for i in range(CALLS)]
    slots = asyncio.Semaphore(AT_ONCE)

    async def as_the_router_does(call: EncodeCall) -> str:
        async with slots:
            encoded = await engine.encode(call, TIMEOUT_S)
        gc.collect()  # the backbone has answered and dropped everything of its own by now
        try:
            reply = await engine.run_head("span", HeadCall(request_id=call.request_id, hidden=encoded.hidden, inputs=[0]),
                                          TIMEOUT_S)
        except InputLost:
            return "lost"
        except StageError as err:
            return "refused" if err.kind == "overloaded" else f"other: {err}"  # overloaded: the router's 503
        return "read" if reply.outputs else f"no output: {reply.error}"

    async def all_calls() -> Counter:
        await engine.encode(calls[0], TIMEOUT_S)  # the handle learns the replicas first
        return Counter(await asyncio.gather(*(as_the_router_does(c) for c in calls)))

    outcomes = asyncio.run(all_calls())
    failed = {k: n for k, n in outcomes.items() if k not in ("read", "refused")}
    assert not failed, f"stored inputs lost (or other failures): {dict(outcomes)}"
    assert outcomes["read"] >= CALLS // 2, f"too few reads to tell (the machine is too busy?): {dict(outcomes)}"
