"""What the load scripts serve: a Serve config's `args:` placed and sized for one run, and the
checkpoints they make when given none (the trained one plus random linear heads for the head
sweep, copies of one head of each linear kind in turn: their predictions are noise, their cost
exactly a real head's; the quick preset's model with random heads; the tests' tiny random model)."""
from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any, Literal

from loadtests.results import Batching
from model.checkpoint import is_checkpoint, read_manifest
from model.heads import HEAD_KINDS
from service.deploy.serve_config import file_args
from service.deploy.settings import deep_merge

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "serve_config.yaml"
Placement = Literal["replica", "colocated"]
# The benchmark's Serve modes: where the heads go, the backbone's placement (None: the config's),
# the router's ingress (None: the config's)
LAYOUTS: dict[str, tuple[Placement, str | None, str | None]] = {
    "fanout": ("replica", None, None),
    "colocated": ("colocated", None, None),
    "colocated_direct": ("colocated", None, "direct"),
    "colocated_split": ("colocated", "replica", None),
}


def config_args(path: Path = CONFIG) -> dict[str, Any]:
    """The `args:` of a Serve config's application with its `deployments:` folded in (what production runs)."""
    return file_args(path)


def deploy_args(checkpoint: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """deploy/serve_config.yaml's `args:` serving `checkpoint`, then `overrides`."""
    return deep_merge({**config_args(), "checkpoint": str(checkpoint.resolve())}, overrides or {})


def batching(args: dict[str, Any]) -> Batching:
    """The backbone's batching as the config sets it, for the in-process engines."""
    backbone = args["backbone"]
    found = backbone.get("batching", {})
    return Batching(max_batch_size=found.get("max_batch_size", 16), wait_s=found.get("batch_wait_timeout_s", 0.002),
                    torch_threads=backbone.get("torch_threads"))


def placement_args(base: dict[str, Any], placement: Placement, checkpoint: str, head_names: list[str],
                   gpu_share: float = 1.0, backbone_placement: str | None = None, ingress: str | None = None) -> dict[str, Any]:
    """The config's `args:` with one replica per stage (autoscaling would blur the rows) and every
    head in `placement`, asking for at most `gpu_share` of one GPU (applications up at once on one
    GPU split it). Heads as replicas need the backbone as its own deployment; `backbone_placement`
    and `ingress` replace the config's otherwise."""
    args = copy.deepcopy(base)
    args["checkpoint"] = checkpoint
    router, backbone = args.setdefault("router", {}), args.setdefault("backbone", {})
    head = args.setdefault("heads", {}).setdefault("default", {})
    if ingress is not None:
        router["ingress"] = ingress
    if placement == "replica" or backbone_placement is not None:
        backbone["placement"] = "replica" if placement == "replica" else backbone_placement
    for stage in (router, backbone, head):
        stage.update({"autoscaling": None, "num_replicas": 1})
    args["heads"]["overrides"] = {name: {"placement": placement} for name in head_names}
    replica_heads = len(head_names) if placement == "replica" else 0
    # Head replicas share what the backbone leaves of one device: eight heads at the GPU config's
    # 0.1 each plus the backbone's 0.5 would ask for 1.3 GPUs and never start.
    left = 1.0 - backbone.get("num_gpus", 0)
    if head.get("num_gpus", 0) * replica_heads > left > 0:
        head["num_gpus"] = left / replica_heads
    asked = gpu_asked(args, replica_heads)
    if asked > gpu_share:
        for stage in (backbone, head):
            if stage.get("num_gpus"):
                stage["num_gpus"] *= gpu_share / asked
    return args


def mode_args(mode: str, base: dict[str, Any], checkpoint: str, head_names: list[str], gpu_share: float = 1.0) -> dict[str, Any]:
    """The application of one of the benchmark's Serve modes (LAYOUTS)."""
    placement, backbone, ingress = LAYOUTS[mode]
    return placement_args(base, placement, checkpoint, head_names, gpu_share, backbone, ingress)


def gpu_asked(args: dict[str, Any], replica_heads: int) -> float:
    """GPUs the application asks Ray for: the backbone and each head replica (colocated heads none)."""
    return args.get("backbone", {}).get("num_gpus", 0) + args["heads"]["default"].get("num_gpus", 0) * replica_heads


def cpu_asked(args: dict[str, Any], replica_heads: int) -> float:
    """Logical CPUs the application asks Ray for (service/deploy/stages.py: 0.1 a stage unless set)."""
    return (args.get("router", {}).get("num_cpus", 0.1) + args.get("backbone", {}).get("num_cpus", 0.1)
            + args["heads"]["default"].get("num_cpus", 0.1) * replica_heads)


def without_gpus(args: dict[str, Any]) -> bool:
    """Drop every stage's num_gpus (to run the GPU config's structure on a CPU); True when there was one."""
    heads = args.get("heads", {})
    stages = [args.get("backbone", {}), heads.get("default", {}), *(heads.get("overrides") or {}).values()]
    return any([stage.pop("num_gpus", 0) for stage in stages if isinstance(stage, dict)])


def is_linear(kind: str) -> bool:
    """A head that reads the hidden states once and writes no tokens (its kind has no generation options)."""
    return not HEAD_KINDS[kind].generation_options


def with_extra_heads(source: Path, out: Path, extra: int) -> Path:
    """`out`: `source` plus `extra` random linear heads named `<kind>_extra<i>`; reused when `out`
    already holds one made from the same source checkpoint."""
    import torch

    from model.checkpoint import load_model, save_checkpoint
    from model.heads import build_head

    source_manifest = read_manifest(source)
    if is_checkpoint(out):
        made = read_manifest(out)
        if made.training.get("derived_from") == source_manifest.checkpoint_hash and len(made.heads) == len(source_manifest.heads) + extra:
            return out
    model, tokenizer, manifest = load_model(source)
    linear = list({h.kind: h for h in manifest.heads if is_linear(h.kind)}.values())
    if not linear:
        raise ValueError(f"{source} has no linear head to copy for the extra heads")
    torch.manual_seed(0)
    for i in range(extra):
        copied = linear[i % len(linear)]
        name = f"{copied.kind}_extra{i + 1}"
        model.heads[name] = build_head(name, copied.kind, manifest.backbone_info, copied.config).eval()
    save_checkpoint(out, model, tokenizer, name=f"{manifest.name}+{extra}", head_tasks={h.name: h.tasks for h in manifest.heads},
                    tasks=manifest.tasks, encoding=manifest.encoding.model_dump(), backbone_source=manifest.backbone.source,
                    training={**manifest.training, "derived_from": source_manifest.checkpoint_hash,
                              "extra_heads": "random linear heads for the benchmark's head sweep"},
                    metrics=manifest.metrics)
    return out


def random_heads_checkpoint(out: Path, backbone_path: Path | None = None) -> Path:
    """The quick preset's model with untrained heads, for a machine without the trained one (a GPU
    box). The backbone is MiniLM from its package, or `backbone_path` (a local encoder directory,
    e.g. .device/minilm made by scripts/gpu/prepare.sh)."""
    from model.checkpoint import save_checkpoint
    from training.build import build_model
    from training.config import load_config
    from training.data.synthetic import generate

    if is_checkpoint(out):
        return out
    overrides: dict = {"optim.seed": 0}
    if backbone_path is not None:
        overrides.update({"backbone.source": "path", "backbone.path": str(backbone_path)})
    config = load_config(preset="quick", overrides=overrides)
    texts = [t for s in ("numeric", "multihop", "qa_summary") for e in generate(s, 60, seed=0) for t in (e.question, e.context, e.answer)]
    model, tokenizer, source = build_model(config, texts)
    save_checkpoint(out, model.eval(), tokenizer, name=f"{config.name}-random-heads", head_tasks=config.head_tasks(),
                    tasks=config.tasks, encoding=config.backbone.encoding(), backbone_source=source,
                    training={"config": config.model_dump(), "steps": 0}, metrics={})
    return out


def sweep_order(source: Path) -> tuple[list[str], int]:
    """Heads in the order the sweep adds them (a span head first as the target, then the other
    linear heads, then the generative ones) and how many are linear."""
    heads = read_manifest(source).heads
    linear = [h.name for h in heads if is_linear(h.kind)]
    first = next((h.name for h in heads if HEAD_KINDS[h.kind].answers_with == "span"), "")
    linear.sort(key=lambda name: name != first)
    return linear + [h.name for h in heads if not is_linear(h.kind)], len(linear)


def tiny_random(out: Path) -> Path:
    """The tests' tiny random model at `out`, made when there is none: it costs almost nothing to
    run, so Serve's own path is most of what a request costs."""
    from training.testing import make_random_checkpoint

    if not is_checkpoint(out):
        print(f"no checkpoint at {out}: making a random one of the tiny preset", file=sys.stderr)
        make_random_checkpoint(out, seed=0)
    return out
