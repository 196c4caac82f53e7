"""The replicas' self-test (check_health): a real tiny model passes it, and the same model with
NaN or inf weights fails it, naming the part that broke."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from service.replica.health import UnhealthyModel, canned_head_batch, non_finite
from service.replica.runners import BackboneRunner, HeadRunner
from model.checkpoint import read_manifest

HEADS = ["span", "multispan", "answer_type", "yesno", "number", "summary"]


@pytest.fixture(scope="module")
def manifest(random_checkpoint):
    return read_manifest(random_checkpoint)


def poison(module: torch.nn.Module, value: float) -> None:
    """Set the first weight matrix of `module` to `value` (what a corrupt load leaves behind)."""
    weight = next(p for name, p in module.named_parameters() if name.endswith("weight") and p.dim() == 2)
    with torch.no_grad():
        weight.fill_(value)


@pytest.mark.parametrize("head", HEADS)
def test_a_healthy_head_replica_passes_and_the_same_head_with_nan_weights_fails(random_checkpoint, manifest, head):
    runner = HeadRunner.load(random_checkpoint, manifest, head)
    runner.self_test()
    poison(runner.head, float("nan"))
    with pytest.raises(UnhealthyModel, match=f"head '{head}': NaN or inf in output"):
        runner.self_test()


def test_inf_weights_fail_the_check_too(random_checkpoint, manifest):
    runner = HeadRunner.load(random_checkpoint, manifest, "answer_type")
    poison(runner.head, float("inf"))
    with pytest.raises(UnhealthyModel, match="head 'answer_type'"):
        runner.self_test()


def test_the_backbone_check_covers_the_backbone_and_its_colocated_heads(random_checkpoint, manifest):
    runner = BackboneRunner(random_checkpoint, manifest, ["yesno", "summary"])
    runner.self_test()
    assert runner.forward_passes == 0, "a health check is not a request's forward pass"

    poison(runner.heads["yesno"].head, float("nan"))
    with pytest.raises(UnhealthyModel, match="head 'yesno'"):
        runner.self_test()

    broken = BackboneRunner(random_checkpoint, manifest, [])
    poison(broken.model.encoder, float("nan"))
    with pytest.raises(UnhealthyModel, match="backbone: NaN or inf in output"):
        broken.self_test()


def test_the_canned_batch_exercises_question_context_and_special_tokens():
    batch = canned_head_batch(32)
    assert set(batch.segments.unique().tolist()) == {0, 1, 2}
    assert batch.hidden.shape[-1] == 32 and bool(torch.isfinite(batch.hidden).all())


@dataclass
class _Output:
    logits: torch.Tensor
    ids: torch.Tensor
    loss: torch.Tensor | None = None


def test_non_finite_names_every_bad_tensor_and_ignores_integers():
    ok = torch.zeros(2, 3)
    bad = torch.tensor([1.0, float("nan")])
    assert non_finite(_Output(ok, torch.tensor([1, 2]))) == []
    assert non_finite(_Output(bad, torch.tensor([1, 2]), loss=torch.tensor(float("inf")))) == ["output.logits", "output.loss"]
    assert non_finite({"a": [ok, bad], "b": float("-inf"), "c": "text"}) == ["output.a[1]", "output.b"]
