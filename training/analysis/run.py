"""`python -m training analyze`: the test split through every head of each seed's checkpoint and
of its controls, measured, pooled over seeds with paired intervals, and written as a report."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from model.checkpoint import CheckpointError, Manifest, read_manifest
from model.example import Example
from training.analysis import findings as F
from training.analysis import targets as T
from training.analysis import worked
from training.analysis.baselines import RANDOM_SPAN, RandomSpans, baselines, random_span_baseline
from training.analysis.report import FindingResult, summarise, target_lines, write
from training.analysis.spans import span_head_capacity
from training.analysis.variants import MULTI_TASK, Variant, multi_task, random_heads, single_task
from training.config import DataFile, TrainConfig
from training.analysis.roles import MULTISPAN, ROLES, SPAN, SUMMARY, analysed_heads
from training.data.loading import by_eval_set, load_test_data, task_of
from training.train import pick_device

# What may differ between the checkpoints of one variant: the seed, and how a run used its machine.
RUN_ONLY = {"seed", "num_threads", "device"}


class AnalysisError(ValueError):
    """The analysis cannot run as asked; the message says what to change."""


@dataclass
class Report:
    out: Path
    results: list[FindingResult]
    seconds: float
    targets: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = []
        for r in self.results:
            lines.append(f"{r.spec.title}: {r.status} (n={r.n} x {r.seeds} seeds)")
            lines += [f"  {v.sentence()}" for v in r.verdicts]
            lines += [f"  {t}" for t in r.targets]
            lines += [f"  note: {n}" for n in r.notes]
        lines.append(f"analysis took {self.seconds:.0f} s")
        return "\n".join(lines)


def _config(manifest: Manifest) -> TrainConfig:
    return TrainConfig.model_validate(manifest.training["config"])


def held_out_examples(checkpoint: str | Path, n: int | None, files: Sequence[DataFile] = (),
                      synthetic: bool = True, real_n: int | None = None) -> list[Example]:
    """The test split of the checkpoint's data config: `n` (default: as trained) examples per
    synthetic setting from the held-out question templates, drawn apart from the validation split
    that chose the checkpoint, for all three settings whichever the checkpoint trained on; the
    examples of its `data.files` with split eval and of its held-out real articles
    (training/data/loading.py: load_test_data); and every example of `files`, real files given at
    analysis time. `synthetic=False`: the real examples alone. `real_n`: at most that many real
    examples per task, a seeded sample across the whole file (its first ones would all come from
    one article), for an analysis that must end in minutes on a CPU."""
    config = _config(read_manifest(checkpoint))
    if n:
        config.data.eval_per_setting = n
    config.data.synthetic = {s: 0 for s in ("numeric", "multihop", "qa_summary")} if synthetic else {}
    config.data.files = config.data.files + [f.model_copy(update={"split": "eval"}) for f in files]
    examples = [e for exs in load_test_data(config.data).values() for e in exs]
    if real_n is not None:
        examples = _sample_real(examples, real_n, seed=config.data.seed)
    if not examples:
        raise AnalysisError(f"no test examples: checkpoint {checkpoint} has no real held-out data and the synthetic "
                            f"settings were left out; give real files with --data-file FORMAT:PATH")
    return examples


def _sample_real(examples: list[Example], per_task: int, seed: int) -> list[Example]:
    """Every synthetic test example (held-out templates), and at most `per_task` real ones per task,
    in their file order."""
    real_by_task: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        if example.split != "heldout":
            real_by_task.setdefault(example.task, []).append(index)
    rng = random.Random(seed)
    dropped = {i for indices in real_by_task.values() if len(indices) > per_task
               for i in set(indices) - set(rng.sample(indices, per_task))}
    return [e for i, e in enumerate(examples) if i not in dropped]


def same_variant(manifests: Sequence[Manifest], paths: Sequence[str | Path]) -> None:
    """Refuse checkpoints that are not seeds of one variant: their configs may differ only in
    optim.seed (and the run's threads and device)."""
    def comparable(m: Manifest) -> dict:
        config = _config(m).model_dump()
        config["optim"] = {k: v for k, v in config["optim"].items() if k not in RUN_ONLY}
        config.pop("name")
        return config

    def flat(config: dict, prefix: str = "") -> dict:
        out = {}
        for key, value in config.items():
            out |= flat(value, f"{prefix}{key}.") if isinstance(value, dict) and key != "synthetic" else {prefix + key: value}
        return out

    first = flat(comparable(manifests[0]))
    for manifest, path in zip(manifests[1:], paths[1:]):
        other = flat(comparable(manifest))
        differ = sorted(k for k in first.keys() | other.keys() if first.get(k) != other.get(k))
        if differ:
            raise AnalysisError(f"{path} is not a seed of {paths[0]}: their configs differ in {differ}; train the seeds "
                                f"of one variant with the same config and `--set optim.seed=N` only")


@dataclass
class Step:
    spec: F.FindingSpec
    examples: list[Example]


def _steps(examples: list[Example], keys: Sequence[str] | None) -> list[Step]:
    steps = [Step(F.NUMERIC, F.computed_examples(examples)), Step(F.NUMERIC_IN_PASSAGE, F.in_passage_examples(examples)),
             Step(F.YESNO, F.yesno_examples(examples)), Step(F.QA_SUMMARY, F.steerable_examples(examples))]
    if keys:
        unknown = sorted(set(keys) - {s.spec.key for s in steps})
        if unknown:
            raise AnalysisError(f"unknown findings {unknown}; valid: {[s.spec.key for s in steps]}")
        steps = [s for s in steps if s.spec.key in keys]
    return steps


def _measure(spec: F.FindingSpec, predictor: F.Predictor, exs: list[Example], target_numbers: list[str | None],
             span_k: int) -> F.Measured:
    if spec in (F.NUMERIC, F.NUMERIC_IN_PASSAGE):
        return F.measure_numeric(predictor, exs, target_numbers, span_k)
    if spec is F.YESNO:
        return F.measure_yesno(predictor, exs, span_k)
    return F.measure_qa_summary(predictor, exs)


def _mean(measured: F.Measured, metric: str) -> float | None:
    values = measured.values.get(metric)
    return sum(values) / len(values) if values else None


def _measure_step(step: Step, variants: list[F.Predictor], multi: Variant, number_head: str | None, span_k: int,
                  seed: int) -> tuple[dict[str, F.Measured], dict[str, int]]:
    """One seed's measurements of one finding: every model variant, then the rule controls (no
    model, cheap, so measured again for each seed, where the number head's answers and the
    random span's lengths change). Also the random span's lengths."""
    exs = step.examples
    if not exs:
        return {}, {}
    target_numbers = _target_numbers(multi, number_head, step, exs)
    per_variant = {v.name: _measure(step.spec, v, exs, target_numbers, span_k) for v in variants}
    random_span = random_span_for(per_variant[MULTI_TASK], span_k, seed)
    for rule in [*baselines(), random_span]:
        per_variant[rule.name] = _measure(step.spec, rule, exs, target_numbers, span_k)
    return per_variant, random_span.lengths


def random_span_for(multi: F.Measured, span_k: int, seed: int) -> RandomSpans:
    """Random spans as long as the multi-task heads' mean on this finding (at least one word),
    as many as the span head returns and as the multi-span head marks on average."""
    lengths, counts = {}, {SPAN: span_k}
    for head, metric in ((SPAN, "span_tokens"), (MULTISPAN, "multispan_tokens"), (SUMMARY, "summary_tokens")):
        if (mean := _mean(multi, metric)) is not None:
            lengths[head] = max(1, round(mean))
    if (count := _mean(multi, "multispan_count")) is not None:
        counts[MULTISPAN] = max(1, round(count))
    return random_span_baseline(lengths, counts, seed=seed)


def run_analysis(checkpoints: str | Path | Sequence[str | Path], out: str | Path,
                 controls: str | Path | Sequence[str | Path | None] | None = None, n: int | None = None,
                 device: str = "auto", examples_per_finding: int = 20, progress: bool = True, seed: int = 0,
                 findings: Sequence[str] | None = None, files: Sequence[DataFile] = (),
                 synthetic: bool = True, real_n: int | None = None) -> Report:
    """`checkpoints`: the seeds of one variant; `controls`: one directory of single-task controls
    per checkpoint, in the same order (None: none for that seed); `real_n`: at most that many real
    examples per task (held_out_examples)."""
    started = time.time()
    out = Path(out)
    paths = [checkpoints] if isinstance(checkpoints, (str, Path)) else list(checkpoints)
    control_dirs = _control_dirs(controls, paths)
    torch_device = pick_device(device)
    try:
        manifests = [read_manifest(p) for p in paths]
    except (CheckpointError, FileNotFoundError) as err:
        raise AnalysisError(str(err)) from None
    same_variant(manifests, paths)
    roles = analysed_heads(manifests[0].heads)
    if not roles:
        raise AnalysisError(f"checkpoint {paths[0]} has none of the heads the analysis reads (a span head, a tagging "
                            f"head, a summariser: {list(ROLES)}); its heads: "
                            f"{[(h.name, h.kind) for h in manifests[0].heads]}")
    tasks = manifests[0].tasks
    examples = held_out_examples(paths[0], n, files, synthetic, real_n)
    # real held-out examples are scored apart from the templates of their task ("squad@<source>")
    test_sets = {name: exs for name, exs in by_eval_set(examples).items() if task_of(name) in tasks}
    steps = _steps(examples, findings)
    seeds = len(paths)
    measured: dict[str, dict[str, list[F.Measured | None]]] = {s.spec.key: {} for s in steps}
    descriptions: dict[str, str] = {}  # the models first, then the rules: the tables' column order
    rules = {b.name: b.description for b in baselines()}
    rules[RANDOM_SPAN] = ("seeded random spans as long as the multi-task heads' mean on the finding and seed "
                          "(the lengths, in words, are in findings.json: random_span_lengths)")
    random_lengths: dict[str, list[dict[str, int]]] = {s.spec.key: [] for s in steps}
    notes: list[str] = []
    scores = T.TargetScores()
    worked_md: dict[str, str] = {}
    bar = tqdm(total=seeds * len(steps), desc="analyze", disable=not progress)
    for s, (path, control) in enumerate(zip(paths, control_dirs)):
        try:
            multi = multi_task(path, torch_device)
        except (CheckpointError, FileNotFoundError) as err:
            raise AnalysisError(str(err)) from None
        variants: list[F.Predictor] = [multi]
        if control is not None:
            single = single_task(control, roles, torch_device)
            missing = [head for role, head in roles.items() if not single.has(role)]
            if missing:
                notes.append(f"seed {s + 1} ({path}): no single-task control for heads {missing} under {control}")
            variants.append(single)
            scores.add(T.SINGLE, s, seeds, T.single_task_scores(control, tasks, test_sets, torch_device))
        variants.append(random_heads(multi, seed=1234 + seed + s))
        descriptions |= {v.name: v.description for v in variants}
        shared = multi.models[next(iter(multi.models))]  # every head of the multi-task variant is one model
        scores.add(T.MULTI, s, seeds, T.multi_task_scores(shared, path, test_sets))
        span_k = span_head_capacity(multi.head_config(SPAN)) if multi.has(SPAN) else 3
        for step in steps:
            bar.set_postfix_str(f"seed {s + 1}: {step.spec.key}")
            per_variant, lengths = _measure_step(step, variants, multi, tasks.get("drop_number"), span_k, seed + s)
            for name, m in per_variant.items():
                measured[step.spec.key].setdefault(name, [None] * seeds)[s] = m if m.values else None
            random_lengths[step.spec.key].append(lengths)
            if s == 0:
                target = _target_head(step.spec, tasks)
                worked_md[step.spec.key] = _worked(step.spec, step.examples[:examples_per_finding], multi,
                                                   multi.key_of(target) if target else None, multi.keys())
            bar.update(1)
        del variants, multi, shared
    bar.close()
    descriptions |= rules

    results = []
    for step in steps:
        per_variant = {v: r for v, r in measured[step.spec.key].items() if any(m is not None for m in r)}
        result = summarise(step.spec, per_variant, n=len(step.examples), seed=seed)
        result.targets = target_lines(step.spec, scores, tasks)
        result.notes = notes + ([] if step.examples else ["no examples of the test split carry the ground truth this "
                                                          "finding needs"])
        result.examples_md = worked_md.get(step.spec.key, "")
        results.append(result)
    target_table = T.table(scores, tasks)
    meta = {
        "checkpoints": [{"path": str(p), "name": m.name, "hash": m.checkpoint_hash, "steps": m.training.get("steps"),
                         "seed": _config(m).optim.seed} for p, m in zip(paths, manifests)],
        "controls": [str(c) if c else None for c in control_dirs],
        "variants": descriptions,
        "random_span_lengths": random_lengths,  # finding -> per seed, head -> words
        "targets": scores.as_dict(),
        "seed": seed,
    }
    command = (f"python -m training analyze --checkpoint {' '.join(map(str, paths))} --out {out}"
               + (f" --controls {' '.join(str(c) for c in control_dirs)}" if any(control_dirs) else "")
               + (f" --n {n}" if n else "") + (f" --findings {','.join(findings)}" if findings else "")
               + "".join(f" --data-file {f.format}:{f.path}" for f in files) + ("" if synthetic else " --real-only")
               + (f" --real-n {real_n}" if real_n else ""))
    runs = ", ".join(f"`{p}` (seed {_config(m).optim.seed}, {m.training.get('steps')} steps)" for p, m in zip(paths, manifests))
    preamble = [
        f"Checkpoints of one variant: {runs}.",
        ("Examples: the test split, drawn from the question templates training never uses (the passages are "
         "generated afresh, from the same generators as training's), apart from the validation split that chose "
         "each checkpoint; plus the real held-out examples, if any (the data config's eval files and held-out "
         "articles, and --data-file)." if synthetic else
         "Examples: real ones only: the data config's eval files and held-out articles, and --data-file."),
        f"Command: `{command}`",
    ]
    write(out, f"Emergent behaviour of {manifests[0].name}", preamble, results, descriptions, meta, target_table)
    return Report(out, results, time.time() - started, target_table)


def _control_dirs(controls, paths: list) -> list[Path | None]:
    if controls is None:
        return [None] * len(paths)
    dirs = [controls] if isinstance(controls, (str, Path)) else list(controls)
    if len(dirs) != len(paths):
        raise AnalysisError(f"{len(paths)} checkpoints but {len(dirs)} control directories: give one --controls "
                            f"directory per checkpoint, in the same order")
    for d, p in zip(dirs, paths):
        if d is not None and not Path(d).is_dir():
            raise AnalysisError(f"--controls {d} is not a directory; train the controls first with "
                                f"`python -m training controls --checkpoint {p} --out {d}`")
    return [Path(d) if d is not None else None for d in dirs]


def _target_numbers(multi: Variant, number_head: str | None, step: Step, exs: list[Example]) -> list[str | None]:
    if step.spec not in (F.NUMERIC, F.NUMERIC_IN_PASSAGE) or number_head is None or not multi.has(number_head) or not exs:
        return [None] * len(exs)
    key = multi.key_of(number_head)
    preds = multi.predict([e.question for e in exs], [e.context for e in exs], [key])
    return [p[key]["text"] for p in preds]


def _target_head(spec: F.FindingSpec, tasks: dict[str, str]) -> str | None:
    return tasks.get(spec.target_tasks[0]) if spec.target_tasks else None


def _worked(spec: F.FindingSpec, exs: list[Example], multi: Variant, target: str | None, heads: list[str]) -> str:
    if not exs or target is None:
        return worked.section(spec.title, ["(no examples)"])
    preds = multi.predict([e.question for e in exs], [e.context for e in exs], heads)
    if spec in (F.NUMERIC, F.NUMERIC_IN_PASSAGE):
        blocks = [worked.numeric_example(i + 1, e, p, target) for i, (e, p) in enumerate(zip(exs, preds))]
    elif spec is F.YESNO:
        blocks = [worked.yesno_example(i + 1, e, p, target) for i, (e, p) in enumerate(zip(exs, preds))]
    else:
        triples = F.summaries(multi, exs) if multi.has(SUMMARY) else [F.SummaryTriple("", "", "")] * len(exs)
        blocks = [worked.qa_summary_example(i + 1, e, p, target, t.without_question, t.steered)
                  for i, (e, p, t) in enumerate(zip(exs, preds, triples))]
    return worked.section(spec.title, blocks)
