"""Where a training step's time goes, phase by phase (with device synchronisation), on any device.

    python scripts/gpu/profile_train_step.py --preset default [--set backbone.path=DIR ...] [--steps 20]

Prints milliseconds per phase and the top operators of torch.profiler; writes a Chrome trace
to --trace if given."""
from __future__ import annotations

import argparse
import time

import torch
import yaml

from training.build import build_model
from training.config import load_config
from training.data.loading import by_task
from training.data.synthetic import generate
from model import encode
from training.freezing import apply_freezing, set_dropout
from training.sampling import TaskSampler
from training.train import _autocast, _optimizer, pick_device


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="default")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--trace", default=None)
    ap.add_argument("--no-profile", action="store_true", help="phases and CPU time only, no torch.profiler tables")
    args = ap.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    cfg = load_config(preset=args.preset, overrides=overrides)
    device = pick_device(cfg.optim.device)
    examples = [e for s in ("numeric", "multihop", "qa_summary") for e in generate(s, 400, seed=0)]
    model, tok, _ = build_model(cfg, [t for e in examples for t in (e.question, e.context, e.answer)])
    counts = apply_freezing(model.backbone, cfg.optim)
    set_dropout(model, cfg.optim.dropout)
    model.length_groups = cfg.optim.length_groups
    print(f"backbone parameters: {counts['trained']:,} trained, {counts['frozen']:,} frozen")
    model.to(device).train()
    opt = _optimizer(model, cfg)
    sampler = TaskSampler(by_task(examples), cfg.optim.sampling, 0, cfg.optim.task_weights)
    head_tasks = cfg.head_tasks()
    enc_args = cfg.backbone.encoding()
    phases: dict[str, float] = {}

    def tick(name: str, t0: float) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        now = time.perf_counter()
        phases[name] = phases.get(name, 0.0) + now - t0
        return now

    def step(i: int) -> None:
        t = time.perf_counter()
        batch_examples = sampler.batch(i, cfg.optim.batch_size)
        enc = encode(tok, [e.question for e in batch_examples], [e.context for e in batch_examples], **enc_args).to(device)
        t = tick("tokenize+to(device)", t)
        with _autocast(device, cfg.optim.mixed_precision):
            batch = model.encode(enc)
            t = tick("backbone forward", t)
            losses = []
            for name, head in model.heads.items():
                rows = [j for j, e in enumerate(batch_examples) if e.task in head_tasks[name]]
                if rows:
                    sub = batch.select(rows)
                    t = tick("select rows", t)
                    labels = head.build_labels([batch_examples[j] for j in rows], sub, tok)
                    t = tick("build labels", t)
                    losses.append(head(sub, labels).loss)
                    t = tick(f"head forward {name}", t)
            loss = sum(losses)
        loss.backward()
        t = tick("backward", t)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tick("clip+optimizer", t)

    for i in range(3):
        step(i)
    phases.clear()
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(args.steps):
        step(i)
    total = (time.perf_counter() - start) / args.steps
    # CPU seconds of this process (all its threads) per step: on a machine others share, wall time
    # says how busy it is; CPU time divided by the threads torch uses is what a quiet one would take.
    cpu = (time.process_time() - cpu_start) / args.steps
    threads = torch.get_num_threads()
    print(f"device {device}, batch {cfg.optim.batch_size}: {total * 1000:.1f} ms/step wall, "
          f"{cfg.optim.batch_size / total:.1f} examples/s; process CPU {cpu * 1000:.0f} ms/step over {threads} threads "
          f"-> about {cpu / threads * 1000:.0f} ms/step on {threads} idle cores")
    for name, secs in sorted(phases.items(), key=lambda kv: -kv[1]):
        print(f"  {name:28s} {secs / args.steps * 1000:8.2f} ms")
    if args.no_profile:
        return
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.profiler.profile(activities=activities) as prof:
        for i in range(5):
            step(100 + i)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=15, max_name_column_width=50))
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=50))
    if args.trace:
        prof.export_chrome_trace(args.trace)


if __name__ == "__main__":
    main()
