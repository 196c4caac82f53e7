"""The in-process engines on the tiny checkpoint: the micro-batcher forms batches from what
waited, and one-model-per-task runs one backbone per head it needs."""
import asyncio
from pathlib import Path

import pytest

from loadtests.engines import InProcess, ModelOnly, PerTaskModels, check_outputs
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


def test_model_only_runs_batches_of_the_cells_concurrency_and_counts_inputs(checkpoint):
    engine = ModelOnly(checkpoint, max_batch_size=4, torch_threads=1)
    heads = engine.loaded.catalog.heads
    requests = [with_heads(r, heads[0], heads[1:]) for r in sample_requests(2)]
    one = asyncio.run(engine.loop(1, requests, 0.2))
    many = asyncio.run(engine.loop(32, requests, 0.2))
    assert one.latencies_ms and many.latencies_ms
    # one latency per input: a batch of min(32, 4) inputs adds four equal entries
    assert len(many.latencies_ms) % 4 == 0 and len(set(many.latencies_ms[:4])) == 1
    # the tiny checkpoint has generative heads: how many tokens they wrote is recorded
    assert any(h.kind == "generative" for h in engine.loaded.manifest.heads) and engine.generated_tokens
