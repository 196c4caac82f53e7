"""Head kinds are owned by the registry (model/heads/): a new kind is one class that declares what
the rest needs to know, and the service serves it with no other edit. The toy kind below lives in
this file only; it is saved in a real checkpoint, loaded from its own file, run through the
in-process engine and the HTTP API, and typed in /openapi.json like the built-in kinds."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient
from pydantic import BaseModel
from torch import nn

from model.heads import HEAD_KINDS, Head, HeadBatch, build_head, register_head
from model.heads.base import pool_per_input
from tests.unit.service.real_model import real_model_client

TOY_KIND, TOY_HEAD, TOY_TASK = "toy_length", "toy", "toy_task"


class ToyLength(BaseModel):
    """The toy's answer: how many tokens the input's windows hold, and a learned score."""

    tokens: int
    score: float


@dataclass
class ToyOutput:
    scores: torch.Tensor  # [num_inputs]
    tokens: torch.Tensor  # [num_inputs]
    loss: torch.Tensor | None = None


class ToyLengthHead(Head):
    output_model = ToyLength

    def __init__(self, name, info, config):
        super().__init__(name, info, config)
        self.proj = nn.Linear(info.hidden_size, 1)

    def forward(self, batch: HeadBatch, labels: Any = None) -> ToyOutput:
        per_window = self.proj(batch.hidden[:, 0]).squeeze(-1).float()
        tokens = torch.zeros(batch.num_inputs, dtype=torch.long, device=batch.hidden.device)
        tokens.index_add_(0, batch.example_index, batch.attention_mask.sum(1))
        return ToyOutput(pool_per_input(per_window, batch.example_index, batch.num_inputs), tokens)

    def decode(self, output: ToyOutput, batch: HeadBatch, tokenizer=None) -> list[dict[str, Any]]:
        return [{"tokens": int(t), "score": float(s)} for t, s in zip(output.tokens.tolist(), output.scores.tolist())]


@pytest.fixture(scope="module", autouse=True)
def toy_kind_registered():
    """What `@register_head("toy_length")` on the class does, for this module's tests only: the
    registry is global, and other tests list the valid kinds."""
    register_head(TOY_KIND)(ToyLengthHead)
    yield
    HEAD_KINDS.pop(TOY_KIND)


@pytest.fixture(scope="module")
def toy_checkpoint(tmp_path_factory, toy_kind_registered):
    from model.checkpoint import save_checkpoint
    from training.build import build_model
    from training.config import load_config

    config = load_config(preset="tiny")
    model, tokenizer, source = build_model(config, ["a few words to build a vocabulary from", "24 to 20"])
    model.heads[TOY_HEAD] = build_head(TOY_HEAD, TOY_KIND, model.info, {})
    out = tmp_path_factory.mktemp("toy") / "ckpt"
    save_checkpoint(out, model.eval(), tokenizer, name="toy", head_tasks={**config.head_tasks(), TOY_HEAD: [TOY_TASK]},
                    tasks={**config.tasks, TOY_TASK: TOY_HEAD}, encoding=config.backbone.encoding(),
                    backbone_source=source)
    return out


def client_for(checkpoint) -> TestClient:
    return real_model_client(checkpoint)


def test_a_toy_kind_in_one_file_is_served_end_to_end(toy_checkpoint):
    client = client_for(toy_checkpoint)
    r = client.post("/v1/predict", json={"task": TOY_TASK, "inputs": {"question": "How many?", "context": "Stallions won 24 to 20."}})
    assert r.status_code == 200, r.text
    target = r.json()["target"]
    assert (target["head"], target["kind"]) == (TOY_HEAD, TOY_KIND)
    answer = ToyLength.model_validate(target["output"])
    assert answer.tokens > 5  # [CLS] question [SEP] context [SEP]
    # every built-in head answers next to it, as a non-target head
    heads = {h["name"] for h in client.get("/v1/heads").json()["heads"]}
    assert r.json()["errors"] == [] and {o["head"] for o in r.json()["non_target"]} == heads - {TOY_HEAD}


def test_openapi_types_every_head_output_by_kind_the_toy_included(toy_checkpoint):
    document = client_for(toy_checkpoint).get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    union = schemas["HeadOutput"]
    assert union["discriminator"]["propertyName"] == "kind"
    mapping = union["discriminator"]["mapping"]
    kinds_in_checkpoint = {h["kind"] for h in client_for(toy_checkpoint).get("/v1/heads").json()["heads"]}
    assert set(mapping) == kinds_in_checkpoint and TOY_KIND in mapping
    for kind, ref in mapping.items():
        variant = schemas[ref.rsplit("/", 1)[1]]
        assert variant["properties"]["kind"]["enum"] == [kind]
        output_ref = variant["properties"]["output"]["$ref"].rsplit("/", 1)[1]
        assert output_ref == HEAD_KINDS[kind].output_model.__name__ and output_ref in schemas
    assert set(schemas["ToyLength"]["required"]) == {"tokens", "score"}


def test_every_built_in_kind_decodes_to_its_declared_output_model(random_checkpoint):
    from model.checkpoint import read_manifest
    from service.replica.runners import BackboneRunner
    from service.pipeline.calls import ColocatedRequest, EncodeCall

    manifest = read_manifest(random_checkpoint)
    runner = BackboneRunner(random_checkpoint, manifest, [h.name for h in manifest.heads])
    call = EncodeCall(request_id="kinds", questions=["How many points?"], contexts=["Stallions won 24 to 20."],
                      colocated=[ColocatedRequest(head=h.name, inputs=[0]) for h in manifest.heads], keep_hidden=False)
    [done] = runner.run([call])
    for head, reply in zip(manifest.heads, done.colocated):
        assert reply.error is None, reply.error
        HEAD_KINDS[head.kind].output_model.model_validate(reply.outputs[0])
        for span in HEAD_KINDS[head.kind].spans_of(reply.outputs[0]):
            source = call.contexts[0] if span["field"] == "context" else call.questions[0]
            assert source[span["start"]:span["end"]] == span["text"]
