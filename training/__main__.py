"""`python -m training {train,evaluate,controls,chance,analyze,data}`: the command line of the training package."""
from __future__ import annotations

import argparse
import json
import sys
import time

# OpenMP's own wait policy is kept (threads spin briefly, then sleep): OMP_WAIT_POLICY=PASSIVE,
# sleeping at once, made a step 1.3x slower on a quiet 2-core CPU (docs/training.md, Knobs and
# their measured effect).


def _parse_overrides(pairs: list[str]) -> dict:
    import yaml

    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--set expects KEY=VALUE (e.g. optim.steps=50), got {pair!r}")
        key, value = pair.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from training.config import ConfigError, load_config
    from training.evaluate import format_table
    from training.train import TrainingDiverged, train

    try:
        config = load_config(args.config, args.preset, _parse_overrides(args.set))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    started = time.time()
    try:
        manifest = train(config, args.out, force=args.force, resume=args.resume, progress=not args.quiet)
    except (FileExistsError, FileNotFoundError, ValueError, TrainingDiverged) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(manifest.metrics["held_out"]))
    print(f"checkpoint written to {args.out} in {time.time() - started:.0f} s "
          f"(best step {manifest.metrics.get('step')}); curves: {args.out}/curves.png")
    if {h.name for h in manifest.heads} & {"span", "multispan"}:
        # Measured once per checkpoint, so the service can say how much an explanation proves.
        return cmd_chance(argparse.Namespace(checkpoint=args.out, n=200, device="auto", quiet=args.quiet))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from model.checkpoint import CheckpointError, load_model
    from training.configs import PRESETS
    from training.config import TrainConfig
    from training.data.loading import load_data
    from model.routing import routes_for
    from training.evaluate import evaluate_model, format_table
    from training.train import pick_device

    try:
        model, tokenizer, manifest = load_model(args.checkpoint)
    except (CheckpointError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    config = TrainConfig.model_validate(manifest.training["config"])
    if args.data:  # another config's held-out sets: e.g. a template-only checkpoint on real articles
        from training.config import ConfigError, load_config

        try:
            config.data = (load_config(preset=args.data) if args.data in PRESETS else load_config(args.data)).data
        except ConfigError as err:
            print(f"error: --data: {err}", file=sys.stderr)
            return 2
    if args.n:
        config.data.eval_per_setting = args.n
    config.data.synthetic = {s: 0 for s in config.data.synthetic}  # evaluation needs no training data
    try:
        _, eval_sets = load_data(config.data)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err} (`python -m training data fetch --list` names the official files)", file=sys.stderr)
        return 2
    model.to(pick_device(args.device))
    results = evaluate_model(model, tokenizer, eval_sets, manifest.tasks, manifest.encoding.model_dump(),
                             progress=not args.json, routes=routes_for(manifest.heads, manifest.tasks))
    if args.json:
        print(json.dumps({"checkpoint": manifest.name, "metrics": results}, indent=2))
    else:
        print(f"checkpoint {manifest.name} ({args.checkpoint}), held-out templates"
              + (" and real held-out sets (task@source)" if any("@" in name for name in results) else "") + ":")
        print(format_table(results))
    return 0


def cmd_controls(args: argparse.Namespace) -> int:
    from model.checkpoint import CheckpointError, is_checkpoint, read_manifest
    from training.config import TrainConfig, apply_overrides
    from training.analysis.roles import analysed_heads
    from training.controls import control_dir, matched_steps, single_task_config
    from training.evaluate import format_table
    from training.train import train

    try:
        manifest = read_manifest(args.checkpoint)
    except (CheckpointError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    config = TrainConfig.model_validate(manifest.training["config"])
    heads = args.heads.split(",") if args.heads else list(analysed_heads(manifest.heads).values())
    # The same budget as the multi-task model gave the head: as many examples of its own tasks as
    # the steps it actually ran (a time budget may have stopped it early) drew for them.
    ran, pools = manifest.training["steps"], manifest.training.get("train_examples") or {}
    for head in heads:
        out = control_dir(args.out, head)
        if is_checkpoint(out) and not args.force:
            print(f"{out}: control already trained (pass --force to retrain)")
            continue
        try:
            steps = args.steps or matched_steps(config, head, ran, pools)
            control = single_task_config(config, head, steps=steps)
            if args.set:
                control = TrainConfig.model_validate(apply_overrides(control.model_dump(), _parse_overrides(args.set)))
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"training control {control.name}: head {head!r} alone on {sorted(control.tasks)}, {steps} steps")
        trained = train(control, out, force=args.force, progress=not args.quiet)
        print(format_table(trained.metrics["held_out"]))
    return 0


def cmd_chance(args: argparse.Namespace) -> int:
    from model.checkpoint import CheckpointError
    from training.analysis.chance import measure_chance

    try:
        chance = measure_chance(args.checkpoint, n=args.n, device=args.device, progress=not args.quiet)
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"explanation chance rate {chance.rate:.3f} ({chance.wrong_answers} on {chance.questions} numeric "
          f"{chance.split} questions), written to {args.checkpoint}/manifest.json")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from training.analysis.run import AnalysisError, run_analysis

    from training.config import DataFile

    findings = args.findings.split(",") if args.findings else None
    try:
        files = [DataFile(format=spec.split(":", 1)[0], path=spec.split(":", 1)[1], split="eval") for spec in args.data_file]
    except (IndexError, ValueError) as err:
        print(f"error: --data-file expects FORMAT:PATH with FORMAT one of jsonl, squad, drop, hotpot, cnndm "
              f"(e.g. hotpot:data/hotpot_dev_distractor_v1.json): {err}", file=sys.stderr)
        return 2
    try:
        report = run_analysis(args.checkpoint, args.out, controls=args.controls, n=args.n, device=args.device,
                              examples_per_finding=args.examples, progress=not args.quiet, findings=findings,
                              files=files, synthetic=not args.real_only, real_n=args.real_n)
    except (AnalysisError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.summary())
    print(f"report written to {args.out}/report.md (numbers: {args.out}/findings.json)")
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from training.data.fetch import FetchError, listing, run

    if args.list:
        print(listing())
        return 0
    if not args.names:
        print("error: name the files to fetch (see --list)", file=sys.stderr)
        return 2
    try:
        run(args.names, args.dir, base_url=args.base_url, progress=not args.quiet)
    except FetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    from training.configs import PRESETS

    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a multi-task model and write a checkpoint")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="a training config YAML (see training/configs/)")
    src.add_argument("--preset", choices=PRESETS, help="a built-in config")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optim.steps=50 (repeatable)")
    p.add_argument("--force", action="store_true", help="overwrite a checkpoint already in --out")
    p.add_argument("--resume", action="store_true", help="continue the training saved in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="each task's metrics of a checkpoint on held-out templates")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--n", type=int, default=None, help="held-out examples per setting (default: as trained)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--data", default=None, metavar="PRESET|CONFIG",
                   help="evaluate on the held-out sets of this preset or config instead of the checkpoint's own "
                        "(e.g. --data real: the real preset's held-out SQuAD articles)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("controls", help="train the single-task controls of a checkpoint for `analyze`")
    p.add_argument("--checkpoint", required=True, help="the multi-task checkpoint whose config and budget to copy")
    p.add_argument("--out", required=True, help="directory for the controls (one checkpoint per head)")
    p.add_argument("--heads", default=None,
                   help="comma-separated heads (default: the heads the analysis reads, found by kind; add a "
                        "target head, e.g. number or yesno, for the multi- vs single-task target table)")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps (default: those that give each head as many examples of its own tasks as the "
                        "checkpoint's training drew for them)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of every control's config, e.g. --set optim.num_threads=1 (repeatable)")
    p.add_argument("--force", action="store_true", help="retrain controls that already exist")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_controls)

    p = sub.add_parser("chance", help="measure how often the explanation's search explains a wrong number; "
                                      "stored in the manifest for the service")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--n", type=int, default=200, help="validation examples per setting to draw the questions from")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_chance)

    p = sub.add_parser("analyze", help="measure the emergent behaviour of non-target heads against controls")
    p.add_argument("--checkpoint", required=True, nargs="+",
                   help="one checkpoint, or several seeds of one variant (same config but optim.seed), pooled")
    p.add_argument("--out", required=True, help="report directory, e.g. reports/default")
    p.add_argument("--controls", default=None, nargs="+",
                   help="directories written by `controls`, one per --checkpoint in the same order (single-task "
                        "control per head); without them only the random-head and rule controls are measured")
    p.add_argument("--findings", default=None,
                   help="comma-separated findings to measure (default all: numeric,numeric_in_passage,yesno,qa_summary)")
    p.add_argument("--n", type=int, default=None, help="held-out examples per setting (default: as trained)")
    p.add_argument("--examples", type=int, default=20, help="worked examples per finding")
    p.add_argument("--data-file", action="append", default=[], metavar="FORMAT:PATH",
                   help="a real file to analyse too, e.g. hotpot:data/hotpot_dev_distractor_v1.json (repeatable)")
    p.add_argument("--real-n", type=int, default=None, metavar="N",
                   help="at most N real examples per task, a seeded sample (default: all of them)")
    p.add_argument("--real-only", action="store_true",
                   help="analyse the real examples alone (--data-file, the checkpoint's eval files and held-out articles)")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("data", help="get the official dataset files")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    p = data_sub.add_parser("fetch", help="download official dataset files, verified by their published sha256")
    p.add_argument("names", nargs="*", metavar="NAME", help="files to fetch (see --list)")
    p.add_argument("--dir", default="data", help="directory to write them to (default: data)")
    p.add_argument("--list", action="store_true", help="print the names of the files that can be fetched")
    p.add_argument("--base-url", default=None,
                   help="fetch each file by name from this mirror instead (default: $WIYH_DATA_BASE_URL, else the "
                        "official addresses)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_data_fetch)

    args = parser.parse_args(argv)
    # transformers' own per-file progress bars and load reports drown ours.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
