"""The stages' model work without Ray: the split path (backbone -> packed hidden states -> head)
answers exactly what the in-process MultiTaskModel answers, from one forward pass."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from service.pipeline.calls import ColocatedRequest, EncodeCall, HeadOptions
from service.replica.payload import unpack
from service.replica.runners import BackboneRunner, HeadRunner
from service.replica.faults import Fault, FaultyBackbone, FaultyHead
from model.checkpoint import CheckpointError, load_model
from training.data.synthetic import generate
from model.encoding import encode

HEADS = ["span", "multispan", "answer_type", "yesno", "number", "summary"]


@pytest.fixture(scope="module")
def reference(random_checkpoint):
    """Five inputs, two of them long enough to need several windows, and the model's answers."""
    model, tokenizer, manifest = load_model(random_checkpoint)
    examples = generate("numeric", 3, seed=3) + generate("qa_summary", 2, seed=3)
    questions = [e.question for e in examples]
    contexts = [e.context * (3 if i % 2 else 1) for i, e in enumerate(examples)]
    cfg = manifest.encoding
    enc = encode(tokenizer, questions, contexts, cfg.max_length, cfg.stride, cfg.max_question_tokens)
    assert max(enc.windows_per_input) > 1, "the fixture must exercise windowing"
    return {"manifest": manifest, "questions": questions, "contexts": contexts, "enc": enc,
            "answers": model.predict(enc, tokenizer)}


def _close(a, b):
    """Equal up to float rounding (scores), exactly equal elsewhere (texts, offsets, labels)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return abs(a - b) < 1e-4
    return a == b


def test_one_forward_pass_serves_a_whole_batch_of_calls_and_colocated_heads_match(random_checkpoint, reference):
    r = reference
    runner = BackboneRunner(random_checkpoint, r["manifest"], ["span", "summary"])
    calls = [
        EncodeCall(request_id="a", questions=r["questions"][:2], contexts=r["contexts"][:2],
                   colocated=[ColocatedRequest(head="span", inputs=[0, 1]), ColocatedRequest(head="summary", inputs=[1])]),
        EncodeCall(request_id="b", questions=r["questions"][2:], contexts=r["contexts"][2:],
                   colocated=[ColocatedRequest(head="span", inputs=[0, 2])], keep_hidden=False),
    ]
    results = runner.run(calls)
    assert runner.forward_passes == 1
    # Scores may differ in the last float bits (the batch is packed differently); texts may not.
    assert _close(results[0].colocated[0].outputs, r["answers"]["span"][:2])
    assert _close(results[0].colocated[1].outputs, r["answers"]["summary"][1:2])
    assert _close(results[1].colocated[0].outputs, [r["answers"]["span"][2], r["answers"]["span"][4]])
    assert results[1].packed is None  # nothing stored when no head replica will read it
    assert results[0].windows_per_input + results[1].windows_per_input == r["enc"].windows_per_input


@pytest.mark.parametrize("head", HEADS)
def test_a_head_replica_reading_packed_hidden_states_answers_like_the_model(random_checkpoint, reference, head):
    r = reference
    runner = BackboneRunner(random_checkpoint, r["manifest"], [])
    first, second = runner.run([
        EncodeCall(request_id="a", questions=r["questions"][:2], contexts=r["contexts"][:2]),
        EncodeCall(request_id="b", questions=r["questions"][2:], contexts=r["contexts"][2:]),
    ])
    head_runner = HeadRunner.load(random_checkpoint, r["manifest"], head)
    replies = head_runner.run_packed([(second.packed, [2, 0], HeadOptions()), (first.packed, [0, 1], HeadOptions())])
    expected = [r["answers"][head][i] for i in (4, 2, 0, 1)]
    assert _close(replies[0].outputs + replies[1].outputs, expected)


def test_only_real_tokens_are_stored_and_float16_halves_the_bytes(random_checkpoint, reference):
    r = reference
    calls = [EncodeCall(request_id="a", questions=r["questions"], contexts=r["contexts"])]
    full = BackboneRunner(random_checkpoint, r["manifest"], []).run(calls)[0].packed
    half = BackboneRunner(random_checkpoint, r["manifest"], [], hidden_dtype="float16").run(calls)[0].packed
    real_tokens = int(r["enc"].attention_mask.sum())
    assert full.hidden.shape == (real_tokens, r["manifest"].backbone.hidden_size)
    assert full.hidden.dtype == np.float32 and half.hidden.dtype == np.float16
    assert half.hidden.nbytes * 2 == full.hidden.nbytes
    batch, ranges = unpack([(half, list(range(5)))])
    assert ranges == [range(0, 5)] and batch.hidden.dtype.is_floating_point
    span = HeadRunner.load(random_checkpoint, r["manifest"], "span").run(batch, HeadOptions())
    assert [s["start"] for s in span] == [s["start"] for s in r["answers"]["span"]]


def test_a_head_loads_only_its_own_file(random_checkpoint, reference, tmp_path):
    copy = shutil.copytree(random_checkpoint, tmp_path / "ckpt")
    (copy / "heads" / "summary.safetensors").write_bytes(b"truncated")
    (copy / "backbone" / "model.safetensors").write_bytes(b"not loaded by a head replica")
    manifest = reference["manifest"]
    assert HeadRunner.load(copy, manifest, "span").kind == "span"
    with pytest.raises(CheckpointError, match="summary.safetensors"):
        HeadRunner.load(copy, manifest, "summary")


def test_generative_options_cap_the_tokens_written(random_checkpoint, reference):
    r = reference
    packed = BackboneRunner(random_checkpoint, r["manifest"], []).run(
        [EncodeCall(request_id="a", questions=r["questions"], contexts=r["contexts"])])[0].packed
    summary = HeadRunner.load(random_checkpoint, r["manifest"], "summary")
    short, default = summary.run_packed([(packed, [0, 1], HeadOptions(max_new_tokens=2)), (packed, [0, 1], HeadOptions())])
    assert all(o["num_tokens"] <= 2 for o in short.outputs)
    assert any(o["num_tokens"] > 2 for o in default.outputs)


def test_an_injected_fault_fails_only_the_calls_it_fires_for(random_checkpoint, reference):
    r = reference
    packed = BackboneRunner(random_checkpoint, r["manifest"], []).run(
        [EncodeCall(request_id="a", questions=["FAIL-ME " + r["questions"][0], r["questions"][1]], contexts=r["contexts"][:2])])[0].packed
    head = FaultyHead(HeadRunner.load(random_checkpoint, r["manifest"], "span"), Fault(mode="raise", trigger="FAIL-ME"))
    failing, healthy = head.run_packed([(packed, [0], HeadOptions()), (packed, [1], HeadOptions())])
    assert failing.outputs is None and "injected fault" in failing.error
    assert healthy.error is None and len(healthy.outputs) == 1


def test_a_fault_on_a_colocated_head_fails_only_that_heads_request_in_the_calls_it_fires_for(random_checkpoint, reference):
    r = reference
    runner = FaultyBackbone(BackboneRunner(random_checkpoint, r["manifest"], ["span", "yesno"]),
                            {"span": Fault(mode="raise", trigger="FAIL-ME")})
    asked = [ColocatedRequest(head="span", inputs=[0]), ColocatedRequest(head="yesno", inputs=[0])]
    failing, healthy = runner.run([
        EncodeCall(request_id="a", questions=["FAIL-ME " + r["questions"][0]], contexts=r["contexts"][:1], colocated=asked),
        EncodeCall(request_id="b", questions=r["questions"][:1], contexts=r["contexts"][:1], colocated=asked),
    ])
    assert "injected fault" in failing.colocated[0].error and failing.colocated[1].error is None
    assert [reply.error for reply in healthy.colocated] == [None, None]
    assert failing.colocated[1].outputs and healthy.colocated[0].outputs  # the other head, the other call: answered
    assert runner.forward_passes == 1  # the fault takes nothing else out of the batch
