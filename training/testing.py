"""Helpers for tests and benchmarks: a valid checkpoint with random weights in seconds."""
from __future__ import annotations

from pathlib import Path

from model.checkpoint import Manifest, save_checkpoint, showcase_examples
from training.config import load_config


def make_random_checkpoint(out_dir: str | Path, seed: int = 0, preset: str = "tiny") -> Manifest:
    """The `tiny` preset's model, untrained (random weights), written as a real checkpoint.

    Its predictions are noise, but every contract holds (files, hashes, head kinds, tasks), so
    service and loading tests can run without training first."""
    from training.build import build_model
    from training.data.synthetic import generate

    config = load_config(preset=preset, overrides={"optim.seed": seed})
    texts = [t for s in ("numeric", "multihop", "qa_summary")
             for e in generate(s, 60, seed=seed) for t in (e.question, e.context, e.answer)]
    model, tokenizer, source = build_model(config, texts)
    held_out = [e for s in ("numeric", "multihop", "qa_summary") for e in generate(s, 12, seed=seed + 10_000, split="heldout")]
    by_task: dict[str, list] = {}
    for example in held_out:
        by_task.setdefault(example.task, []).append(example)
    return save_checkpoint(out_dir, model.eval(), tokenizer, name=f"{config.name}-random", head_tasks=config.head_tasks(),
                           tasks=config.tasks, encoding=config.backbone.encoding(), backbone_source=source,
                           training={"config": config.model_dump(), "steps": 0}, metrics={},
                           examples=showcase_examples(by_task))


def truncated_copy(checkpoint: str | Path, out_dir: str | Path, file: str = "heads/span.safetensors") -> Path:
    """A copy of `checkpoint` whose `file` stopped early, as an interrupted copy leaves it: the
    checkpoint's verification refuses it (that file's sha256)."""
    import shutil

    out = Path(out_dir)
    shutil.copytree(checkpoint, out)
    target = out / file
    target.write_bytes(target.read_bytes()[:-7])
    return out
