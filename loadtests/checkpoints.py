"""The checkpoints the load scripts serve when they are given none: the trained one plus random
linear heads for the head sweep (copies, with random weights, of one head of each linear kind in
turn: their predictions are noise, their cost exactly a real head's), the quick preset's model with
random heads, or the tests' tiny random model."""
from __future__ import annotations

import sys
from pathlib import Path

import torch


def is_linear(kind: str) -> bool:
    """A head that reads the hidden states once and writes no tokens: its kind declares no
    generation options (model/heads/)."""
    from model.heads import HEAD_KINDS

    return not HEAD_KINDS[kind].generation_options


def with_extra_heads(source: Path, out: Path, extra: int, seed: int = 0) -> Path:
    """`out`: `source` plus `extra` random linear heads named `<kind>_extra<i>`. Reused when
    `out` already holds one made from the same source checkpoint."""
    from model.checkpoint import is_checkpoint, load_model, read_manifest, save_checkpoint
    from model.heads import build_head

    source_manifest = read_manifest(source)
    if is_checkpoint(out):
        made = read_manifest(out)
        if made.training.get("derived_from") == source_manifest.checkpoint_hash and len(made.heads) == len(source_manifest.heads) + extra:
            return out
    model, tokenizer, manifest = load_model(source)
    # one head of each linear kind the checkpoint has, in turn
    linear = list({h.kind: h for h in manifest.heads if is_linear(h.kind)}.values())
    if extra and not linear:
        raise ValueError(f"{source} has no linear head to copy for the extra heads")
    torch.manual_seed(seed)
    for i in range(extra):
        copied = linear[i % len(linear)]
        name = f"{copied.kind}_extra{i + 1}"
        model.heads[name] = build_head(name, copied.kind, manifest.backbone_info, copied.config).eval()
    head_tasks = {h.name: h.tasks for h in manifest.heads}
    save_checkpoint(out, model, tokenizer, name=f"{manifest.name}+{extra}", head_tasks=head_tasks, tasks=manifest.tasks,
                    encoding=manifest.encoding.model_dump(), backbone_source=manifest.backbone.source,
                    training={**manifest.training, "derived_from": source_manifest.checkpoint_hash,
                              "extra_heads": "random linear heads for the benchmark's head sweep"},
                    metrics=manifest.metrics)
    return out


def random_heads_checkpoint(out: Path, backbone_path: Path | None = None, seed: int = 0) -> Path:
    """The quick preset's model, untrained heads, as a real checkpoint: for a machine without the
    trained one (a GPU box). The backbone is MiniLM from its package, or `backbone_path` (a local
    encoder directory, e.g. .device/minilm made by scripts/gpu/prepare.sh)."""
    from training.build import build_model
    from model.checkpoint import is_checkpoint, save_checkpoint
    from training.config import load_config
    from training.data.synthetic import generate

    if is_checkpoint(out):
        return out
    overrides: dict = {"optim.seed": seed}
    if backbone_path is not None:
        overrides.update({"backbone.source": "path", "backbone.path": str(backbone_path)})
    config = load_config(preset="quick", overrides=overrides)
    texts = [t for s in ("numeric", "multihop", "qa_summary") for e in generate(s, 60, seed=seed) for t in (e.question, e.context, e.answer)]
    model, tokenizer, source = build_model(config, texts)
    save_checkpoint(out, model.eval(), tokenizer, name=f"{config.name}-random-heads", head_tasks=config.head_tasks(),
                    tasks=config.tasks, encoding=config.backbone.encoding(), backbone_source=source,
                    training={"config": config.model_dump(), "steps": 0}, metrics={})
    return out


def sweep_order(source: Path) -> tuple[list[str], int]:
    """Heads in the order the sweep adds them (a span head first as the target, then the other
    linear heads, then the generative ones) and how many are linear."""
    from model.checkpoint import read_manifest
    from model.heads import HEAD_KINDS

    heads = read_manifest(source).heads
    linear = [h.name for h in heads if is_linear(h.kind)]
    first = next((h.name for h in heads if HEAD_KINDS[h.kind].answers_with == "span"), "")
    linear.sort(key=lambda name: name != first)
    return linear + [h.name for h in heads if not is_linear(h.kind)], len(linear)


def tiny_random(out: Path, seed: int = 0) -> Path:
    """The tests' tiny random model at `out`, made when there is none: it costs almost nothing to
    run, so Serve's own path is most of what a request costs."""
    from model.checkpoint import is_checkpoint
    from training.testing import make_random_checkpoint

    if not is_checkpoint(out):
        print(f"no checkpoint at {out}: making a random one of the tiny preset", file=sys.stderr)
        make_random_checkpoint(out, seed=seed)
    return out
