"""The in-process engines on the tiny checkpoint: the micro-batcher forms batches from what
waited, and one-model-per-task runs one backbone per head it needs."""
import asyncio
from pathlib import Path

import pytest

from loadtests.engines import InProcess, PerTaskModels, check_outputs
from loadtests.inputs import sample_requests, with_heads


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from training.testing import make_random_checkpoint

    out = tmp_path_factory.mktemp("engines") / "tiny"
    make_random_checkpoint(out, seed=0)
    return out


def run_all(engine, requests):
    async def go():
        return await asyncio.gather(*(engine(r) for r in requests))

    return asyncio.run(go())


def test_in_process_batches_concurrent_requests_and_answers_every_head(checkpoint):
    engine = InProcess(checkpoint, max_batch_size=4, wait_s=0.01, torch_threads=1)
    requests = sample_requests(2)  # 6 requests, one per client
    answers = run_all(engine, requests)
    assert [check_outputs(a, r, engine.loaded.catalog) for a, r in zip(answers, requests)] == [[]] * 6
    assert engine.inputs == 6 and engine.batches == 2  # 4 + 2: the batch fills, the rest forms the next


def test_per_task_models_run_only_the_models_a_request_needs(checkpoint):
    engine = PerTaskModels(checkpoint, max_batch_size=4, wait_s=0.0, torch_threads=1)
    heads = engine.loaded.catalog.heads
    assert len(engine.models) == len(heads)
    assert len({id(m.backbone) for m in engine.models.values()}) == len(heads)  # a backbone copy each
    request = with_heads(sample_requests(1)[0], heads[0], heads[1:2])
    answer = run_all(engine, [request])[0]
    assert set(answer) == set(heads[:2])
    assert check_outputs({heads[0]: answer[heads[0]]}, request, engine.loaded.catalog) == [f"no output from {[heads[1]]}"]
