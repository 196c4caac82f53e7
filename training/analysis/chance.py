"""The explanation's chance rate: how often its search "explains" a wrong number.

An arithmetic explanation ("24 - 17 = 7 from the spans the other heads extracted") says something
only if the same search, over the same heads' spans, does not also explain answers that are wrong.
Measured once per checkpoint: for each held-out numeric question (validation split, held-out
templates), the span heads' top spans are searched for gold - 1 and gold + 1; the rate is the share
of those wrong answers explained. Stored in the manifest (`explanation_chance`), where the service
reads it and withholds `consistent: true` while it is above its bound.
"""
from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from model.checkpoint import MANIFEST, ExplanationChance, Manifest, read_manifest
from model.arithmetic import parse_whole_number
from model.example import Example
from training.analysis import findings as F
from training.analysis.roles import MULTISPAN, SPAN, analysed_heads
from training.analysis.variants import multi_task
from training.config import TrainConfig
from training.data.loading import load_data

WRONG_ANSWERS = "gold - 1, gold + 1"
SPLIT = "validation (held-out templates)"


def numeric_questions(manifest: Manifest, n: int) -> list[Example]:
    """The validation split's numeric questions with a whole-number gold answer."""
    config = TrainConfig.model_validate(manifest.training["config"])
    config.data.eval_per_setting = n
    config.data.synthetic = {"numeric": 0}  # the setting that carries numeric ground truth; no training data
    config.data.files = []
    config.data.real_squad = None
    _, validation = load_data(config.data)
    return [e for e in F.numeric_examples([e for exs in validation.values() for e in exs])
            if parse_whole_number(e.answer) is not None]


def chance_rate(predictor: F.Predictor, examples: list[Example], batch_size: int = 32,
                progress: bool = False) -> tuple[float, list[float]]:
    """The mean share of wrong answers explained, and each question's share."""
    heads = [r for r in (SPAN, MULTISPAN) if predictor.has(r)]
    per_question: list[float] = []
    for i in tqdm(range(0, len(examples), batch_size), desc="chance", disable=not progress, leave=False):
        batch = examples[i : i + batch_size]
        preds = predictor.predict([e.question for e in batch], [e.context for e in batch], heads)
        per_question += [F.explains_wrong(parse_whole_number(e.answer), p) for e, p in zip(batch, preds)]  # type: ignore[misc]
    return (sum(per_question) / len(per_question) if per_question else 0.0), per_question


def measure_chance(checkpoint: str | Path, n: int = 200, device: str = "auto", progress: bool = True) -> ExplanationChance:
    """Measure the checkpoint's chance rate and write it into its manifest."""
    from training.train import pick_device

    manifest = read_manifest(checkpoint)
    roles = analysed_heads(manifest.heads)
    heads = [roles[r] for r in (SPAN, MULTISPAN) if r in roles]
    if not heads:
        raise ValueError(f"checkpoint {checkpoint} has no span or tagging head, so no explanation to measure; "
                         f"its heads: {[(h.name, h.kind) for h in manifest.heads]}")
    examples = numeric_questions(manifest, n)
    if not examples:
        raise ValueError(f"no numeric validation questions for n={n}; pass a larger --n")
    rate, _ = chance_rate(multi_task(checkpoint, pick_device(device)), examples, progress=progress)
    manifest.explanation_chance = ExplanationChance(rate=rate, questions=len(examples), wrong_answers=WRONG_ANSWERS,
                                                    split=SPLIT, heads=heads)
    (Path(checkpoint) / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    return manifest.explanation_chance
