"""The applications the load scripts deploy: a Serve config's `args:`, placed and sized for one run."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml

from loadtests.results import Batching
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
    """The `args:` of a Serve config's application (what production runs)."""
    return yaml.safe_load(path.read_text())["applications"][0]["args"]


def deploy_args(checkpoint: Path, overrides: dict[str, Any] | None = None, config: Path = CONFIG) -> dict[str, Any]:
    """The config's `args:` serving `checkpoint`, then `overrides`."""
    return deep_merge({**config_args(config), "checkpoint": str(checkpoint.resolve())}, overrides or {})


def batching(args: dict[str, Any]) -> Batching:
    """The backbone's batching as the config sets it, for the in-process engines."""
    backbone = args["backbone"]
    found = backbone.get("batching", {})
    return Batching(max_batch_size=found.get("max_batch_size", 16), wait_s=found.get("batch_wait_timeout_s", 0.002),
                    torch_threads=backbone.get("torch_threads"))


def placement_args(base: dict[str, Any], placement: Placement, checkpoint: str, head_names: list[str],
                   gpu_share: float = 1.0, backbone_placement: str | None = None, ingress: str | None = None) -> dict[str, Any]:
    """The config's `args:` with one replica per stage (autoscaling would blur the rows) and every
    head in `placement`; its GPU asks fit `gpu_share` of one device (several applications up at
    once on one GPU split it). The backbone keeps the config's placement (`backbone_placement`
    replaces it), except that heads as replicas need it as its own deployment; `ingress` replaces
    the router's."""
    args = copy.deepcopy(base)
    args["checkpoint"] = checkpoint
    if ingress is not None:
        args.setdefault("router", {})["ingress"] = ingress
    backbone = args.setdefault("backbone", {})
    if backbone_placement is not None:
        backbone["placement"] = backbone_placement
    if placement == "replica":
        backbone["placement"] = "replica"
    for stage in (args.setdefault("router", {}), backbone, args.setdefault("heads", {}).setdefault("default", {})):
        stage.update({"autoscaling": None, "num_replicas": 1})
    args["heads"]["overrides"] = {name: {"placement": placement} for name in head_names}
    if placement == "replica":
        fit_gpu_fractions(args, len(head_names))
    scale_gpu_asks(args, len(head_names) if placement == "replica" else 0, gpu_share)
    return args


def mode_args(mode: str, base: dict[str, Any], checkpoint: str, head_names: list[str], gpu_share: float = 1.0) -> dict[str, Any]:
    """The application of one of the benchmark's Serve modes (LAYOUTS)."""
    placement, backbone, ingress = LAYOUTS[mode]
    return placement_args(base, placement, checkpoint, head_names, gpu_share, backbone, ingress)


def fit_gpu_fractions(args: dict[str, Any], replica_heads: int) -> None:
    """Head replicas that ask for a GPU share what the backbone leaves of one device: eight heads
    at the GPU config's 0.1 each plus the backbone's 0.5 would ask for 1.3 GPUs and never start."""
    head = args["heads"]["default"]
    wanted = head.get("num_gpus", 0) * replica_heads
    left = 1.0 - args.get("backbone", {}).get("num_gpus", 0)
    if wanted > left > 0:
        head["num_gpus"] = left / replica_heads


def gpu_asked(args: dict[str, Any], replica_heads: int) -> float:
    """GPUs the application asks Ray for: the backbone and each head replica (colocated heads none)."""
    return args.get("backbone", {}).get("num_gpus", 0) + args["heads"]["default"].get("num_gpus", 0) * replica_heads


def cpu_asked(args: dict[str, Any], replica_heads: int) -> float:
    """Logical CPUs the application asks Ray for (service/deploy/stages.py: 0.1 a stage unless set)."""
    return (args.get("router", {}).get("num_cpus", 0.1) + args.get("backbone", {}).get("num_cpus", 0.1)
            + args["heads"]["default"].get("num_cpus", 0.1) * replica_heads)


def scale_gpu_asks(args: dict[str, Any], replica_heads: int, share: float) -> None:
    """Scale every GPU ask down so the application asks at most `share` of a GPU: the fan-out and
    colocated applications of the GPU config asked 1.0 + 0.5 together, and the second never started."""
    asked = gpu_asked(args, replica_heads)
    if asked <= share or asked == 0:
        return
    for stage in (args.get("backbone", {}), args["heads"]["default"]):
        if stage.get("num_gpus"):
            stage["num_gpus"] *= share / asked


def without_gpus(args: dict[str, Any]) -> bool:
    """Drop every stage's num_gpus (to run the GPU config's structure on a CPU); True when there was one."""
    heads = args.get("heads", {})
    stages = [args.get("backbone", {}), heads.get("default", {}), *(heads.get("overrides") or {}).values()]
    dropped = [stage.pop("num_gpus", 0) for stage in stages if isinstance(stage, dict)]
    return any(dropped)
