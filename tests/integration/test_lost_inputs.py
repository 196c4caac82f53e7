"""Hidden states the backbone stored stay readable after it has answered (issue 13, item 3).

Serve returns the backbone's answer, with the ObjectRef of the stored hidden states inside, as an
item of a streaming generator, and Ray can lose the caller's borrow of a reference nested there:
the backbone replica, the owner, then freed the object as soon as its own reference died, and a
head reading it got ReferenceCountingAssertionError (503 "input was lost" with every replica
alive). service/deploy/held_inputs.py keeps the owner's reference for as long as a request can use
it. This test takes the router's place: many encode calls at once through a deployment handle,
every answer's reference read after the backbone has moved on. The load test over HTTP is
`python -m loadtests.lost_inputs` (docs/results.md, "Lost inputs").
"""
from __future__ import annotations

import gc
import time

import pytest

from service.pipeline.calls import EncodeCall

pytestmark = pytest.mark.integration

CALLS = 64


def test_stored_hidden_states_stay_readable_after_the_backbone_answered(service):
    import ray
    from ray import serve
    from ray.exceptions import ObjectLostError

    backbone = serve.get_deployment_handle("backbone", app_name=service.app_name)
    calls = [EncodeCall(request_id=f"held-{i}", questions=[f"Which number comes after {i}?"],
                        contexts=[f"The count went {i}, {i + 1}, {i + 2} and stopped there."]) for i in range(CALLS)]
    answers = [r.result(timeout_s=60) for r in [backbone.encode.remote(c) for c in calls]]
    gc.collect()
    time.sleep(1.0)  # the backbone's batch has long returned; only the hold keeps the objects now

    lost: list[str] = []
    for answer in answers:
        try:
            packed = ray.get(answer.hidden.ref, timeout=30)
        except ObjectLostError as err:
            lost.append(type(err).__name__)
            continue
        assert packed.num_inputs == 1 and packed.hidden.shape[0] > 0
    assert not lost, f"{len(lost)} of {CALLS} stored inputs were freed while still referenced: {sorted(set(lost))}"
