"""`python -m training analyze`: held-out examples of each setting through every head of the
checkpoint and of each control, measured, summarised with intervals, and written as a report."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from training.analysis import findings as F
from training.analysis import worked
from training.analysis.report import FindingResult, summarise, write
from training.analysis.baselines import baselines
from training.analysis.spans import span_head_capacity
from training.analysis.variants import MULTI_TASK, Variant, multi_task, random_heads, single_task
from model.checkpoint import CheckpointError, read_manifest
from training.config import TrainConfig
from training.controls import ANALYSED_HEADS
from training.data.loading import load_test_data
from model.example import Example
from training.train import pick_device


class AnalysisError(ValueError):
    """The analysis cannot run as asked; the message says what to change."""


@dataclass
class Report:
    out: Path
    results: list[FindingResult]
    seconds: float

    def summary(self) -> str:
        lines = []
        for r in self.results:
            lines.append(f"{r.spec.title}: {'shown' if r.shown else 'not shown'} (n={r.n})")
            lines += [f"  {v.sentence()}" for v in r.verdicts]
            lines += [f"  note: {n}" for n in r.notes]
        lines.append(f"analysis took {self.seconds:.0f} s")
        return "\n".join(lines)


def held_out_examples(checkpoint: str | Path, n: int | None) -> list[Example]:
    """The test split of the checkpoint's synthetic settings: held-out templates, drawn apart from
    the validation split that chose the checkpoint (training/data/loading.py)."""
    config = TrainConfig.model_validate(read_manifest(checkpoint).training["config"])
    if n:
        config.data.eval_per_setting = n
    # Only the synthetic settings carry the ground truth the findings need.
    config.data.synthetic = {s: 0 for s in ("numeric", "multihop", "qa_summary")}
    return [e for exs in load_test_data(config.data).values() for e in exs]


def run_analysis(checkpoint: str | Path, out: str | Path, controls: str | Path | None = None, n: int | None = None,
                 device: str = "auto", examples_per_finding: int = 20, progress: bool = True,
                 seed: int = 0) -> Report:
    started = time.time()
    out = Path(out)
    torch_device = pick_device(device)
    try:
        manifest = read_manifest(checkpoint)
        multi = multi_task(checkpoint, torch_device)
    except (CheckpointError, FileNotFoundError) as err:
        raise AnalysisError(str(err)) from None
    heads = {h.name: h.kind for h in manifest.heads}
    targets = manifest.tasks
    if not any(h in heads for h in ANALYSED_HEADS):
        raise AnalysisError(f"checkpoint {checkpoint} has none of the heads the analysis reads {list(ANALYSED_HEADS)}; "
                            f"its heads: {sorted(heads)}")
    variants: list[F.Predictor] = [multi]
    notes: list[str] = []
    if controls is not None:
        if not Path(controls).is_dir():
            raise AnalysisError(f"--controls {controls} is not a directory; train the controls first with "
                                f"`python -m training controls --checkpoint {checkpoint} --out {controls}`")
        single = single_task(controls, [h for h in ANALYSED_HEADS if h in heads], torch_device)
        missing = [h for h in ANALYSED_HEADS if h in heads and not single.has(h)]
        if missing:
            notes.append(f"no single-task control for heads {missing} under {controls}")
        variants.append(single)
    else:
        notes.append("no --controls given: only the random-head control is measured")
    variants.append(random_heads(multi, seed=1234 + seed))
    variants += baselines()
    # Every variant is asked for as many spans as the multi-task span head returns.
    span_k = span_head_capacity(multi.head_config(F.SPAN_HEAD)) if multi.has(F.SPAN_HEAD) else 3

    examples = held_out_examples(checkpoint, n)
    numeric, yesno, steerable = F.numeric_examples(examples), F.yesno_examples(examples), F.steerable_examples(examples)
    number_head = targets.get("drop_number")
    yesno_head = targets.get("hotpot_yesno")
    qa_head = targets.get("squad")

    results: list[FindingResult] = []
    steps = [(F.NUMERIC, numeric), (F.YESNO, yesno), (F.QA_SUMMARY, steerable)]
    bar = tqdm(total=len(steps) * len(variants), desc="analyze", disable=not progress)
    for spec, exs in steps:
        measured = {}
        if spec is F.NUMERIC:
            target_numbers = ([p[number_head]["text"] for p in multi.predict([e.question for e in exs], [e.context for e in exs], [number_head])]
                              if number_head in heads and exs else [None] * len(exs))
        for variant in variants:
            bar.set_postfix_str(f"{spec.key}: {variant.name}")
            if exs:
                if spec is F.NUMERIC:
                    measured[variant.name] = F.measure_numeric(variant, exs, target_numbers, span_k)
                elif spec is F.YESNO:
                    measured[variant.name] = F.measure_yesno(variant, exs, span_k)
                else:
                    measured[variant.name] = F.measure_qa_summary(variant, exs)
            bar.update(1)
        measured = {k: m for k, m in measured.items() if m.values}
        result = summarise(spec, measured, n=len(exs), seed=seed)
        if not exs:
            result.notes.append("no held-out examples of this setting carry the ground truth it needs")
        result.examples_md = _worked(spec, exs[:examples_per_finding], multi, {F.NUMERIC.key: number_head,
                                     F.YESNO.key: yesno_head, F.QA_SUMMARY.key: qa_head}[spec.key], list(heads))
        results.append(result)
    bar.close()
    for r in results:
        r.notes = notes + r.notes

    meta = {
        "checkpoint": {"path": str(checkpoint), "name": manifest.name, "hash": manifest.checkpoint_hash,
                       "steps": manifest.training.get("steps")},
        "controls": str(controls) if controls else None,
        "variants": {v.name: v.description for v in variants},
        "seed": seed,
    }
    preamble = [
        f"Checkpoint `{checkpoint}` ({manifest.name}, {manifest.training.get('steps')} steps), test split of the held-out templates (not the validation split that chose the checkpoint).",
        f"Command: `python -m training analyze --checkpoint {checkpoint} --out {out}"
        + (f" --controls {controls}" if controls else "") + (f" --n {n}" if n else "") + "`",
    ]
    write(out, f"Emergent behaviour of {manifest.name}", preamble, results, {v.name: v.description for v in variants}, meta)
    return Report(out, results, time.time() - started)


def _worked(spec: F.FindingSpec, exs: list[Example], multi: Variant, target: str | None, heads: list[str]) -> str:
    if not exs or target is None:
        return worked.section(spec.title, ["(no examples)"])
    preds = multi.predict([e.question for e in exs], [e.context for e in exs], heads)
    if spec is F.NUMERIC:
        blocks = [worked.numeric_example(i + 1, e, p, target) for i, (e, p) in enumerate(zip(exs, preds))]
    elif spec is F.YESNO:
        blocks = [worked.yesno_example(i + 1, e, p, target) for i, (e, p) in enumerate(zip(exs, preds))]
    else:
        triples = F.summaries(multi, exs) if multi.has(F.SUMMARY_HEAD) else [F.SummaryTriple("", "", "")] * len(exs)
        blocks = [worked.qa_summary_example(i + 1, e, p, target, t.without_question, t.steered)
                  for i, (e, p, t) in enumerate(zip(exs, preds, triples))]
    return worked.section(spec.title, blocks)
