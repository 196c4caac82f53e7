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
from training.analysis.roles import analysed_heads
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
    """Heads asked for by role (training/analysis/roles.py: `roles[role]` names the head that plays
    it) or, for a head no role names (the target number decoder), by name."""
    name: str
    description: str
    models: dict[str, LoadedModel] = field(default_factory=dict)  # head name -> the model that holds it
    roles: dict[str, str] = field(default_factory=dict)  # role -> head name

    def head_name(self, key: str) -> str:
        return self.roles.get(key, key)

    def key_of(self, head: str) -> str:
        """The key `predict` answers a head under: its role, where it plays one, else its name."""
        return next((role for role, name in self.roles.items() if name == head), head)

    def keys(self) -> list[str]:
        """Every head's key, sorted."""
        return sorted(self.key_of(head) for head in self.models)

    def has(self, key: str) -> bool:
        return self.head_name(key) in self.models

    def head_config(self, key: str) -> dict[str, Any]:
        name = self.head_name(key)
        return dict(self.models[name].model.heads[name].config)

    def predict(self, questions: Sequence[str], contexts: Sequence[str], heads: Sequence[str],
                batch_size: int = 32) -> list[dict[str, dict[str, Any]]]:
        """{role or head name, as asked: prediction} per input; heads that share a model share
        its backbone pass."""
        out: list[dict[str, dict[str, Any]]] = [{} for _ in contexts]
        by_model: dict[int, list[str]] = {}
        for key in heads:
            if not self.has(key):
                raise KeyError(f"variant {self.name!r} has no head {key!r}; it has {sorted(self.models)}"
                               f" (by role: {self.roles})")
            by_model.setdefault(id(self.models[self.head_name(key)]), []).append(key)
        for keys in by_model.values():
            loaded = self.models[self.head_name(keys[0])]
            names = [self.head_name(k) for k in keys]
            preds = predict_texts(loaded.model, loaded.tokenizer, questions, contexts, names, loaded.encoding, batch_size)
            for row, pred in zip(out, preds):
                row.update({key: pred[name] for key, name in zip(keys, names)})
        return out


def multi_task(checkpoint: str | Path, device: torch.device) -> Variant:
    model, tokenizer, manifest = load_model(checkpoint)
    loaded = LoadedModel(model.to(device).eval(), tokenizer, manifest.encoding.model_dump())
    return Variant(MULTI_TASK, f"checkpoint {manifest.name}: every head over the jointly trained backbone",
                   {h.name: loaded for h in manifest.heads}, analysed_heads(manifest.heads))


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
    return Variant(RANDOM_HEADS, "the multi-task backbone with randomly initialised heads",
                   {h: loaded for h in heads}, dict(trained.roles))


def single_task(controls: str | Path, roles: dict[str, str], device: torch.device) -> Variant:
    """For each role -> head name in `roles`, the control checkpoint of that head under `controls`
    (`python -m training controls` names them by head), where one exists."""
    models = {}
    for head in roles.values():
        path = control_dir(controls, head)
        if (path / "manifest.json").is_file():
            model, tokenizer, manifest = load_model(path)
            models[head] = LoadedModel(model.to(device).eval(), tokenizer, manifest.encoding.model_dump())
    return Variant(SINGLE_TASK, f"each head trained alone on its own tasks ({controls})", models,
                   {role: head for role, head in roles.items() if head in models})
