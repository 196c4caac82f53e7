"""The models the analysis compares, behind one interface: which head says what about an input.

    multi-task     the checkpoint itself: every head over the shared, jointly trained backbone
    single-task    each head from its own control checkpoint (`python -m training controls`),
                   trained alone on its own tasks with its own backbone and the same step budget
    random heads   the checkpoint's backbone with freshly initialised heads: what the backbone's
                   features give without any head training (the floor)

The degenerate baselines (training/analysis/baselines.py) are controls too, with the same interface.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from model.checkpoint import load_model
from training.controls import control_dir
from training.evaluate import predict_texts
from model import HEAD_KINDS, MultiTaskModel, build_head

MULTI_TASK, SINGLE_TASK, RANDOM_HEADS = "multi-task", "single-task", "random heads"


@dataclass
class LoadedModel:
    model: MultiTaskModel
    tokenizer: Any
    encoding: dict[str, int]


@dataclass
class Variant:
    name: str
    description: str
    models: dict[str, LoadedModel] = field(default_factory=dict)  # head -> the model that holds it

    def has(self, head: str) -> bool:
        return head in self.models

    def head_config(self, head: str) -> dict[str, Any]:
        return dict(self.models[head].model.heads[head].config)

    def predict(self, questions: Sequence[str], contexts: Sequence[str], heads: Sequence[str],
                batch_size: int = 32) -> list[dict[str, dict[str, Any]]]:
        """{head: prediction} per input; heads that share a model share its backbone pass."""
        out: list[dict[str, dict[str, Any]]] = [{} for _ in contexts]
        by_model: dict[int, list[str]] = {}
        for head in heads:
            if head not in self.models:
                raise KeyError(f"variant {self.name!r} has no head {head!r}; it has {sorted(self.models)}")
            by_model.setdefault(id(self.models[head]), []).append(head)
        for group in by_model.values():
            loaded = self.models[group[0]]
            preds = predict_texts(loaded.model, loaded.tokenizer, questions, contexts, group, loaded.encoding, batch_size)
            for row, pred in zip(out, preds):
                row.update(pred)
        return out


def multi_task(checkpoint: str | Path, device: torch.device) -> Variant:
    model, tokenizer, manifest = load_model(checkpoint)
    loaded = LoadedModel(model.to(device).eval(), tokenizer, manifest.encoding.model_dump())
    return Variant(MULTI_TASK, f"checkpoint {manifest.name}: every head over the jointly trained backbone",
                   {h.name: loaded for h in manifest.heads})


def random_heads(trained: Variant, seed: int = 1234) -> Variant:
    """The trained backbone with each head rebuilt from its config with fresh random weights."""
    any_loaded = next(iter(trained.models.values()))
    backbone = any_loaded.model.backbone
    info = any_loaded.model.info
    torch.manual_seed(seed)
    heads = {}
    for name, head in any_loaded.model.heads.items():
        extra = {"word_embeddings": backbone.get_input_embeddings()} if HEAD_KINDS[head.kind].ties_embeddings else {}
        heads[name] = build_head(name, head.kind, info, head.config, **extra)
    device = next(backbone.parameters()).device
    model = MultiTaskModel(backbone, heads, info).to(device).eval()
    loaded = LoadedModel(model, any_loaded.tokenizer, any_loaded.encoding)
    return Variant(RANDOM_HEADS, "the multi-task backbone with randomly initialised heads", {h: loaded for h in heads})


def single_task(controls: str | Path, heads: Sequence[str], device: torch.device) -> Variant:
    """One control checkpoint per head, where one exists under `controls`."""
    models = {}
    for head in heads:
        path = control_dir(controls, head)
        if (path / "manifest.json").is_file():
            model, tokenizer, manifest = load_model(path)
            models[head] = LoadedModel(model.to(device).eval(), tokenizer, manifest.encoding.model_dump())
    return Variant(SINGLE_TASK, f"each head trained alone on its own tasks ({controls})", models)
