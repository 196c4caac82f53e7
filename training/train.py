"""The training loop: mixed-task batches, one loss per head, AdamW with warm-up and decay to zero
over the steps that run (training/schedule.py), gradient clipping, bf16 autocast on a GPU,
periodic evaluation with best-checkpoint keeping, and resume."""
from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, load_model as load_model_weights, save_file, save_model as save_model_weights
from tqdm.auto import tqdm
from transformers import AutoTokenizer

from training.build import build_model
from model.checkpoint import MANIFEST, Manifest, is_checkpoint, load_model, save_checkpoint, showcase_examples
from training.config import TrainConfig
from training.cropping import ContextCropper
from training.data.loading import load_data
from training.evaluate import evaluate_model, primary_metric
from model import MultiTaskModel, encode
from training.plots import plot_curves
from training.sampling import TaskSampler
from training.freezing import apply_freezing, set_dropout
from training.schedule import LinearSchedule
from model.routing import routes_for

STATE_DIR = "train_state"
LOG_EVERY = 10


def pick_device(requested: str) -> torch.device:
    device = torch.device(requested if requested != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        # cuDNN's attention builds a new plan for every new shape: with batches padded to their
        # own longest input that cost ~20 ms of CPU per call and made a step 600 ms instead of
        # ~40 (profiled on an H100); flash / memory-efficient attention have no such cost.
        torch.backends.cuda.enable_cudnn_sdp(False)
    return device


def _autocast(device: torch.device, mode: str):
    use_bf16 = mode == "bf16" or (mode == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported())
    if use_bf16:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return torch.autocast(device_type=device.type, enabled=False)


def _optimizer(model: MultiTaskModel, config: TrainConfig) -> torch.optim.AdamW:
    opt = config.optim
    no_decay = ("bias", "LayerNorm.weight", "norm.weight", "embed_norm.weight", "final_norm.weight")
    groups: dict[tuple[float, float], list[torch.nn.Parameter]] = {}
    seen: set[int] = set()
    backbone_ids = {id(p) for p in model.backbone.parameters()}
    for name, param in model.named_parameters():
        if id(param) in seen or not param.requires_grad:
            continue  # tied embeddings appear twice
        seen.add(id(param))
        is_backbone = id(param) in backbone_ids
        lr = (opt.backbone_lr or opt.lr) if is_backbone else opt.lr
        wd = 0.0 if name.endswith(no_decay) else opt.weight_decay
        groups.setdefault((lr, wd), []).append(param)
    return torch.optim.AdamW([{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()])


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: every later step would only spread it through the weights."""


def train(config: TrainConfig, out_dir: str | Path, force: bool = False, resume: bool = False,
          progress: bool = True) -> Manifest:
    out = Path(out_dir)
    state_dir = out / STATE_DIR
    if resume and not (state_dir / "state.json").is_file():
        raise FileNotFoundError(f"--resume: {state_dir}/state.json not found; nothing to resume in {out}")
    if is_checkpoint(out) and not (force or resume):
        raise FileExistsError(f"{out} already holds a checkpoint ({out / MANIFEST}); pass --force to overwrite it "
                              "or --resume to continue its training")
    out.mkdir(parents=True, exist_ok=True)
    opt = config.optim
    random.seed(opt.seed), np.random.seed(opt.seed), torch.manual_seed(opt.seed)
    if opt.num_threads:
        torch.set_num_threads(opt.num_threads)
    device = pick_device(opt.device)

    t0 = time.time()
    train_sets, eval_sets = load_data(config.data)
    # A task no head trains on would only take rows of every batch for nothing (a setting's
    # generator makes all of its tasks; a single-head config wants some of them).
    trained = {t for tasks in config.head_tasks().values() for t in tasks}
    train_sets = {t: exs for t, exs in train_sets.items() if t in trained}
    _check_coverage(config, train_sets)
    texts = [t for exs in train_sets.values() for e in exs for t in (e.question, e.context, e.answer)]
    model, tokenizer, source = build_model(config, texts)
    if resume and config.backbone.source == "tiny":
        tokenizer = AutoTokenizer.from_pretrained(str(state_dir / "tokenizer"))
    trained_params = apply_freezing(model.backbone, opt)
    set_dropout(model, opt.dropout)
    model.length_groups = opt.length_groups
    model.to(device).train()
    optimizer = _optimizer(model, config)
    schedule = LinearSchedule(optimizer, opt.steps, opt.warmup_ratio, opt.time_budget_s)
    encoding = config.backbone.encoding()
    head_tasks = config.head_tasks()
    routes = routes_for(config.heads, config.tasks)
    sampler = TaskSampler(train_sets, opt.sampling, opt.seed, opt.task_weights)
    cropper = ContextCropper(tokenizer, config.data.train_context_tokens, opt.seed)

    step, best_score, best_step = 0, -math.inf, None
    kept_unmeasured = False  # the end was kept without an evaluation: the final one is its first
    train_seconds = 0.0
    log_path = out / "metrics.jsonl"
    if resume:
        step, best_score, best_step = _load_state(state_dir, model, optimizer)
    elif log_path.exists():
        log_path.unlink()
    log = log_path.open("a")

    def save_best(metrics: dict[str, Any]) -> None:
        save_checkpoint(out, model, tokenizer, name=config.name, head_tasks=head_tasks, tasks=config.tasks,
                        encoding=encoding, backbone_source=source,
                        training={**_summary(config, step, train_sets, time.time() - t0, train_seconds, device),
                                  "backbone_parameters": trained_params},
                        metrics={"held_out": metrics, "step": step},
                        examples=showcase_examples(eval_sets))  # what the service's inspector offers to try

    def _evaluate_and_keep(at_step: int) -> None:
        nonlocal best_score, best_step
        metrics = evaluate_model(model, tokenizer, eval_sets, config.tasks, encoding, limit=opt.eval_examples,
                                 routes=routes)
        log.write(json.dumps({"kind": "eval", "step": at_step, "metrics": metrics}) + "\n"), log.flush()
        bar.write(f"step {at_step}: held-out score {metrics['score']:.3f} " +
                  " ".join(f"{t}={v[primary_metric(t)]:.2f}" for t, v in metrics.items() if t != "score"))
        if metrics["score"] > best_score:
            best_score, best_step = metrics["score"], at_step
            save_best(metrics)
        _save_state(state_dir, model, tokenizer, optimizer, at_step, best_score, best_step)

    bar = tqdm(total=opt.steps, initial=step, desc=f"train {config.name}", disable=not progress, dynamic_ncols=True)
    window_examples, window_start = 0, time.time()
    # Only training steps count against a time budget (train_seconds): evaluations inside it would
    # take steps away.
    while step < opt.steps:
        if schedule.finished(step, train_seconds):
            bar.write(f"time budget of {opt.time_budget_s:.0f} s of training reached at step {step} "
                      f"(the learning rate annealed to 0 over it); stopping")
            log.write(json.dumps({"kind": "stop", "step": step, "lr": schedule.last_lr(),
                                  "train_seconds": round(train_seconds, 2)}) + "\n")
            if step % opt.eval_every:
                _evaluate_and_keep(step)
            break
        step_start = time.time()
        schedule.set_rate(step, train_seconds)
        examples = cropper.crop_batch(sampler.batch(step, opt.batch_size), step)
        enc = encode(tokenizer, [e.question for e in examples], [e.context for e in examples], **encoding).to(device)
        with _autocast(device, opt.mixed_precision):
            batch = model.encode(enc)
            head_losses = {}
            for name, head in model.heads.items():
                rows = [i for i, e in enumerate(examples) if e.task in head_tasks[name]]
                if rows:
                    sub = batch.select(rows)
                    labels = head.build_labels([examples[i] for i in rows], sub, tokenizer)
                    head_losses[name] = head(sub, labels).loss
            loss = sum(head_losses.values())
        # before the step, so the weights stay finite and the heads named are the ones that broke
        # (a step later every head's loss is NaN); one host sync per step
        if not torch.isfinite(loss):
            broken = sorted(k for k, v in head_losses.items() if not torch.isfinite(v))
            kept = f"keeps the checkpoint of step {best_step}" if best_step else "holds no checkpoint yet"
            raise TrainingDiverged(
                f"training diverged at step {step + 1}: the loss of head(s) {broken} is not finite; {out} {kept}. "
                f"Lower optim.lr or optim.backbone_lr, or look for a log of 0 or a division by 0 in those heads")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), opt.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        window_examples += len(examples)
        train_seconds += time.time() - step_start
        if step % LOG_EVERY == 0 or step == opt.steps:
            rate = window_examples / max(time.time() - window_start, 1e-9)
            rec = {"kind": "train", "step": step, "loss": loss.item(), "examples_per_s": rate,
                   "lr": schedule.last_lr(), "train_seconds": round(train_seconds, 2),
                   "head_losses": {k: v.item() for k, v in head_losses.items()}}
            log.write(json.dumps(rec) + "\n"), log.flush()
            bar.set_postfix(loss=f"{loss.item():.3f}", ex_s=f"{rate:.0f}")
            window_examples, window_start = 0, time.time()
        bar.update(1)
        if step == opt.steps and best_step is None:
            # The end is the only checkpoint there will be (a quick run evaluates once): keep it as
            # it is, and the whole held-out evaluation below measures it once rather than twice.
            best_step, kept_unmeasured = step, True
            save_best({})
            _save_state(state_dir, model, tokenizer, optimizer, step, best_score, best_step)
        elif step % opt.eval_every == 0 or step == opt.steps:
            # The last step always evaluates: the kept checkpoint can be the annealed end.
            _evaluate_and_keep(step)
            window_examples, window_start = 0, time.time()  # examples/s measures training only
    bar.close()

    # The kept checkpoint is the best one; its metrics are re-measured on the whole held-out set.
    model, tokenizer, manifest = load_model(out)
    model.length_groups = opt.length_groups
    model.to(device)
    final = evaluate_model(model, tokenizer, eval_sets, config.tasks, encoding, progress=progress, routes=routes)
    if kept_unmeasured:  # measured only now: the curves get its point
        log.write(json.dumps({"kind": "eval", "step": step, "metrics": final}) + "\n")
    log.close()
    manifest.metrics = {"held_out": final, "step": best_step}
    manifest.training["wall_seconds"] = round(time.time() - t0, 1)
    (out / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    try:
        plot_curves(log_path, out / "curves.png")
    except ImportError as err:  # a bare GPU machine may lack matplotlib; the jsonl has the numbers
        tqdm.write(f"no curves.png ({err}); the curves are in {log_path}")
    return manifest


def _check_coverage(config: TrainConfig, train_sets: dict[str, list]) -> None:
    missing = [t for t in config.tasks if not train_sets.get(t)]
    if len(missing) == len(config.tasks):
        raise ValueError(f"no training examples for any task of the config ({sorted(config.tasks)}); "
                         "add data.synthetic settings or data.files")
    if missing:
        tqdm.write(f"warning: no training examples for tasks {missing}; their heads learn only from other tasks")


def _summary(config: TrainConfig, step: int, train_sets, seconds: float, train_seconds: float,
             device: torch.device) -> dict[str, Any]:
    return {
        "config": config.model_dump(),
        "steps": step,
        # seconds in training steps alone (no data generation, evaluation or saving), and its rate
        "train_seconds": round(train_seconds, 1),
        "examples_per_s": round(step * config.optim.batch_size / max(train_seconds, 1e-9), 1),
        "train_examples": {t: len(v) for t, v in train_sets.items()},
        "device": str(device),
        "wall_seconds": round(seconds, 1),
        "torch": torch.__version__,
    }


def _save_state(state_dir: Path, model, tokenizer, optimizer, step, best_score, best_step) -> None:
    """Everything --resume needs, as safetensors + JSON (never a pickle)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    save_model_weights(model, str(state_dir / "model.safetensors"))
    opt_state = optimizer.state_dict()
    tensors = {f"{idx}.{key}": value.detach().cpu().contiguous()
               for idx, st in opt_state["state"].items() for key, value in st.items() if torch.is_tensor(value)}
    save_file(tensors, str(state_dir / "optimizer.safetensors"))
    tokenizer.save_pretrained(state_dir / "tokenizer")
    (state_dir / "state.json").write_text(json.dumps({
        "step": step, "best_score": best_score, "best_step": best_step,
        "param_groups": opt_state["param_groups"],
    }))


def _load_state(state_dir: Path, model, optimizer) -> tuple[int, float, int | None]:
    state = json.loads((state_dir / "state.json").read_text())
    load_model_weights(model, str(state_dir / "model.safetensors"))
    flat = load_file(str(state_dir / "optimizer.safetensors"))
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        idx, name = key.split(".", 1)
        per_param.setdefault(int(idx), {})[name] = value
    # The rate of each group is set again by the schedule from the step, before the next step.
    optimizer.load_state_dict({"state": per_param, "param_groups": state["param_groups"]})
    return state["step"], state["best_score"], state["best_step"]
