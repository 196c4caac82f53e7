"""The in-process modes on the tiny checkpoint: the service's in-process engine batches what
waited and answers every head; one-model-per-task runs one backbone per head it needs; the
model-only ceiling runs batches of the cell's size."""
import asyncio
from pathlib import Path

import pytest

from loadtests.engines import InProcess, ModelOnly, PerTaskModels
from loadtests.traffic import sample_requests, with_heads
from loadtests.results import Batching

BATCHING = Batching(max_batch_size=4, wait_s=0.05, torch_threads=1)


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
    engine = InProcess(checkpoint, BATCHING)
    requests = sample_requests(2)  # 6 requests, one per client
    assert run_all(engine, requests) == [[]] * 6  # every answer has its target and every other head
    stats = engine.engine.backbone.stats()
    assert stats["inputs_served"] == 6 and stats["forward_passes"] == 2  # 4 + 2: the batch fills, the rest forms the next
    assert engine.batch_inputs_mean() == 3


def test_in_process_answers_a_batch_request_and_reports_a_bad_one(checkpoint):
    engine = InProcess(checkpoint, BATCHING)
    items = sample_requests(1)
    assert run_all(engine, [{"items": items}]) == [[]]
    [problems] = run_all(engine, [{"task": "no_such_task", "inputs": items[0]["inputs"]}])
    assert problems and "no_such_task" in problems[0]


def test_per_task_models_run_only_the_models_a_request_needs(checkpoint):
    engine = PerTaskModels(checkpoint, BATCHING)
    heads = list(engine.models)
    backbones = {id(m.engine.backbone.runner.model) for m in engine.models.values()}
    assert len(backbones) == len(heads)  # a backbone copy each
    request = with_heads(sample_requests(1)[0], heads[0], heads[1:2])
    assert run_all(engine, [request]) == [[]]
    served = {name: m.engine.backbone.stats()["calls_served"] for name, m in engine.models.items()}
    assert served == {name: int(name in heads[:2]) for name in heads}


def test_model_only_runs_batches_of_the_cells_concurrency_and_counts_inputs(checkpoint):
    engine = ModelOnly(checkpoint, BATCHING)
    heads = [h.name for h in engine.manifest.heads]
    requests = [with_heads(r, heads[0], heads[1:]) for r in sample_requests(2)]
    one = asyncio.run(engine.loop(1, requests, 0.2))
    many = asyncio.run(engine.loop(32, requests, 0.2))
    assert one.latencies_ms and many.latencies_ms
    # one latency per input: a batch of min(32, 4) inputs adds four equal entries
    assert len(many.latencies_ms) % 4 == 0 and len(set(many.latencies_ms[:4])) == 1
    # the tiny checkpoint has generative heads: how many tokens they wrote is recorded
    assert any(h.kind == "generative" for h in engine.manifest.heads) and engine.generated_tokens
