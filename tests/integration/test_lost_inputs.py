"""Hidden states the backbone stored stay readable after it has answered (issue 13, item 3).

Serve returns the backbone's answer, with the ObjectRef of the stored hidden states inside, as an
item of a streaming generator, and Ray can lose the caller's borrow of a reference nested there:
the backbone replica, the owner, then freed the object as soon as its own reference died, and a
head reading it got ReferenceCountingAssertionError (503 "input was lost" with every replica
alive). service/deploy/held_inputs.py keeps the owner's reference for as long as a request can use
it. This test takes the router's place: a steady flow of encode calls through a deployment handle,
each answer's reference handed to a head replica that reads it. Without the hold, 53-64 of 240
reads failed with ReferenceCountingAssertionError (docs/results.md, "Lost inputs"), and 12 of the 80
it makes now. The load test over HTTP is `python -m loadtests.lost_inputs`.
"""
from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter

import pytest

from service.deploy.held_inputs import hold_for
from service.deploy.settings import Timeouts
from service.pipeline.calls import EncodeCall, HeadCall
from tests.integration.conftest import service_args

pytestmark = pytest.mark.integration

# A full gc.collect() per call is what provokes the lost borrow (the youngest generation alone did
# not: 0 lost without the hold), and it costs up to a second per call in the whole suite's heap:
# 80 calls keep the test short and still lost 12 of them without the hold (53 of 240 before).
CALLS = 80
# A new handle queues its first calls until it learns the replicas, and refuses past the backbone's
# max_queued_requests (8): one call first, then at most this many encode calls at once.
AT_ONCE = 8


def test_stored_hidden_states_stay_readable_after_the_backbone_answered(service):
    from ray import serve
    from ray.exceptions import ObjectLostError
    from ray.serve.exceptions import BackPressureError

    hold_s = hold_for(Timeouts(**service_args(service.checkpoint)["timeouts"]))
    backbone = serve.get_deployment_handle("backbone", app_name=service.app_name)
    head = serve.get_deployment_handle("head_span", app_name=service.app_name)
    calls = [EncodeCall(request_id=f"held-{i}", questions=[f"Which number comes after {i}?"],
                        contexts=[f"The count went {i}, {i + 1}, {i + 2} and stopped there."]) for i in range(CALLS)]
    slots = asyncio.Semaphore(AT_ONCE)

    async def as_the_router_does(call: EncodeCall) -> str:
        # Awaited in an event loop, the reference handed on to a head replica that reads it; the
        # backbone has answered and dropped its own Python reference by then.
        async with slots:
            encoded = await backbone.encode.remote(call)
        answered = time.monotonic()
        gc.collect()
        try:
            reply = await head.predict.remote(HeadCall(request_id=call.request_id, hidden=encoded.hidden, inputs=[0]))
        except BackPressureError:
            return "refused"  # the head's queue was full: the router answers 503 overloaded
        except Exception as err:
            cause = getattr(err, "cause", None) or err
            if not isinstance(cause, ObjectLostError):
                return f"other: {type(cause).__name__}"
            # Past the hold the router has given up on the request (its timeouts): not a loss.
            return "lost after the hold" if time.monotonic() - answered > hold_s else type(cause).__name__
        return "read" if reply.outputs else f"no output: {reply.error}"

    async def all_calls() -> Counter:
        await backbone.encode.remote(calls[0])  # the handle learns the replicas first
        return Counter(await asyncio.gather(*(as_the_router_does(c) for c in calls)))

    outcomes = asyncio.run(all_calls())
    lost = {k: n for k, n in outcomes.items() if k not in ("read", "lost after the hold", "refused")}
    assert not lost, f"stored inputs freed while still referenced (or other failures): {dict(outcomes)}"
    assert outcomes["read"] >= CALLS // 2, f"too few reads to tell (the machine is too busy?): {dict(outcomes)}"
