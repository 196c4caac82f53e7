"""What the load scripts serve and where. A private Ray cluster on 127.0.0.1 with Serve (the load
scripts' and the integration tests'), private as the demo's is: its own temp dir (so no one else's
`ray.init()` joins it) and free ports (two clusters on one machine both take the dashboard agent's
default port, and the second one's raylet dies); closing it stops only its own processes, never
`ray stop`. A Serve config's `args:` placed and sized for one run; the checkpoints made when given
none (random linear heads for the head sweep: noise, at exactly a real head's cost)."""
from __future__ import annotations

import argparse
import copy
import logging
import os
import shutil
import signal
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from unittest.mock import patch

import httpx

from loadtests.results import Batching
from model.checkpoint import is_checkpoint, read_manifest
from model.heads import HEAD_KINDS
# one definition: the demo picks its ports and its temp dir the same way
from service.demo.cluster import free_port, private_temp_dir, ray_tmpdir
from service.deploy.cluster_env import DIRECT_INGRESS_ENV, HA_PROXY_ENV
from service.deploy.liveness import alive_replica_actors
from service.deploy.serve_config import file_args
from service.deploy.settings import deep_merge

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "serve_config.yaml"
# The cluster variables the application's build reads (service.deploy.settings.ingress_problems).
BUILD_READS = (DIRECT_INGRESS_ENV, HA_PROXY_ENV, "RAY_SERVE_THROUGHPUT_OPTIMIZED")
WORKER_RESOURCE = "wiyh_worker_node"  # offered by every worker node, to pin replicas there
APP = "wiyh"  # the application's name where a run serves one
Placement = Literal["replica", "colocated"]
# The benchmark's Serve modes: where the heads go, the backbone's placement (None: the config's),
# the router's ingress (None: the config's)
LAYOUTS: dict[str, tuple[Placement, str | None, str | None]] = {
    "fanout": ("replica", None, None),
    "colocated": ("colocated", None, None),
    "colocated_direct": ("colocated", None, "direct"),
    "colocated_split": ("colocated", "replica", None),
}
log = logging.getLogger("wiyh.loadtests")


class LocalServe:
    """A head node with Serve's controller and its HTTP proxy on a free port, worker nodes on
    demand. `serve_env`: environment of the cluster's processes, as `ray start` would get it (None:
    Serve's defaults, quicker to deploy). `request_timeout_s`: the proxy's bound on a request."""

    def __init__(self, num_cpus: int | None = None, metrics_port: int | None = None,
                 system_config: dict[str, Any] | None = None, serve_env: dict[str, str] | None = None,
                 head_resources: dict[str, float] | None = None, object_store_mib: int | None = None,
                 request_timeout_s: float | None = None):
        # ray.cluster_utils.Cluster gives a node 1 CPU unless told: with the CPU config's fractions
        # the fan-out application (router 0.1 + backbone 0.5 + 8 heads x 0.1) never fits.
        self.head = {"num_cpus": num_cpus if num_cpus is not None else os.cpu_count() or 1, "include_dashboard": False,
                     "metrics_export_port": metrics_port, "_system_config": system_config or {},
                     "env_vars": dict(serve_env or {}), "resources": head_resources or {}}
        if object_store_mib:
            self.head["object_store_memory"] = object_store_mib * 2**20
        self.http = {"host": "127.0.0.1", **({"request_timeout_s": request_timeout_s} if request_timeout_s else {})}
        self.port = 0
        self.temp_dir: Path | None = None
        self.workers: list[Any] = []
        self._scope = ExitStack()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "LocalServe":
        import ray
        from ray import serve
        from ray.cluster_utils import Cluster

        try:
            self.temp_dir = private_temp_dir("wiyh-serve-")
            self._scope.callback(shutil.rmtree, self.temp_dir, ignore_errors=True)
            # This process builds the applications, which checks the settings against the cluster's
            # environment (settings.ingress_problems): it gets the variables that check reads. Only
            # those: as a client, a flag such as RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP=0 would
            # change how its own handle calls run.
            exported = {k: v for k, v in self.head["env_vars"].items() if k in BUILD_READS}
            self._scope.enter_context(patch.dict(os.environ, exported))
            # Before any Ray call: every path Ray derives (sessions, sockets, the address file) lands here.
            node_temp_dir = self._scope.enter_context(ray_tmpdir(self.temp_dir))
            self.cluster = Cluster(initialize_head=True, head_node_args={
                **self.head, "temp_dir": str(node_temp_dir), "metrics_export_port": self.head["metrics_export_port"] or free_port(),
                "dashboard_agent_listen_port": free_port(), "ray_client_server_port": free_port(), "runtime_env_agent_port": free_port()})
            self._scope.callback(self.cluster.shutdown)
            ray.init(address=self.cluster.address, log_to_driver=False, logging_level="WARNING")
            self.port = free_port()
            # One proxy, on the head node: the nodes share this machine's 127.0.0.1, and the head
            # node, which is never killed, keeps the clients' port.
            serve.start(proxy_location="HeadOnly", http_options={**self.http, "port": self.port})
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        import ray
        from ray import serve

        try:
            if ray.is_initialized():
                serve.shutdown()
        except Exception as err:  # the cluster goes anyway; say why Serve did not stop cleanly
            log.warning("serve.shutdown failed: %s", err)
        finally:
            ray.shutdown()
            self._scope.close()  # the cluster's processes, then its environment and its temp dir

    def add_worker(self) -> None:
        """A worker node offering WORKER_RESOURCE (what `ray start --address=...` does on a new machine)."""
        self.workers.append(self.cluster.add_node(num_cpus=2, resources={WORKER_RESOURCE: 1000}, object_store_memory=200 * 2**20))

    def kill_worker(self, node: Any) -> None:
        """The whole node at once: raylet, object store and every replica on it, no graceful stop."""
        self.cluster.remove_node(node, allow_graceful=False)
        self.workers.remove(node)

    def deploy(self, args: dict[str, Any], name: str, route_prefix: str = "/", ready_timeout_s: float = 300) -> str:
        """Run the application built from `args` and wait until it is ready; the URL its clients call:
        the proxy's, or with `router.ingress: direct` the router replica's own HTTP server."""
        from ray import serve

        from service.deploy.app import build_app

        serve.run(build_app(args), name=name, route_prefix=route_prefix)
        url = self.url + ("" if route_prefix == "/" else route_prefix)
        wait_ready(url, ready_timeout_s)
        if args.get("router", {}).get("ingress") == "direct":
            url = direct_ingress_url(name, route_prefix)
            wait_ready(url, ready_timeout_s)
        return url


def under_load(head_resources: dict[str, float] | None = None) -> LocalServe:
    """The fault and soak runs' cluster: 2 CPUs, a 300 MiB object store, and no HTTP answer later
    than 30 s (the service's own timeouts are shorter, so a client normally sees our 5xx first)."""
    return LocalServe(num_cpus=2, head_resources=head_resources, object_store_mib=300, request_timeout_s=30.0)


def direct_ingress_url(app: str, route_prefix: str) -> str:
    """Where `app`'s one router replica serves HTTP itself (direct ingress): the port in the
    `target_groups` of the controller's instance details (the dashboard's /api/serve/applications/;
    this cluster runs none, so the driver's Serve client is asked). The replica listens on
    http_options.host, 127.0.0.1, whatever node IP the target names."""
    from ray.serve.context import _get_global_client

    groups = _get_global_client().get_serve_details().get("target_groups", [])
    targets = [t for g in groups if g.get("app_name") == app and str(g.get("protocol")).endswith("HTTP") for t in g["targets"]]
    if len(targets) != 1:
        raise RuntimeError(f"expected one direct-ingress HTTP target for application {app!r}, found {targets} "
                           f"(is the cluster started with RAY_SERVE_ENABLE_DIRECT_INGRESS=1, with one router replica?)")
    return f"http://127.0.0.1:{targets[0]['port']}" + ("" if route_prefix == "/" else route_prefix)


def wait_ready(url: str, timeout_s: float = 300) -> None:
    """Until `url`/health/ready answers 200; TimeoutError past `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # the proxy is not up yet
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} was not ready within {timeout_s:g} s")
        time.sleep(0.5)


@dataclass(frozen=True)
class Replica:
    deployment: str
    actor_id: str
    pid: int
    node_id: str


def alive_replicas(app: str, deployment: str | None = None) -> list[Replica]:
    """The ALIVE replica actors of `app` (of one deployment when named)."""
    found = [Replica(actor["ActorClassName"].rsplit(":", 1)[1], actor["ActorID"], int(actor["Pid"]),
                     actor["Address"]["NodeID"]) for actor in alive_replica_actors(app, deployment)]
    return sorted(found, key=lambda r: (r.deployment, r.actor_id))


def sigkill(replica: Replica) -> None:
    """What an OOM kill or a segfault does: no cleanup, no goodbye to the controller."""
    os.kill(replica.pid, signal.SIGKILL)


def replica_counts(status: Any, app: str = APP) -> tuple[dict[str, int], dict[str, int]]:
    """RUNNING replicas and replicas in any state per deployment of `app`, from serve.status()."""
    found = status.applications.get(app)
    deployments = found.deployments.items() if found is not None else []
    return ({name: int(d.replica_states.get("RUNNING", 0)) for name, d in deployments},
            {name: int(sum(d.replica_states.values())) for name, d in deployments})


def serve_whole(app: str, expected: dict[str, int], dead: set[str]) -> bool:
    """Every deployment HEALTHY with all its replicas RUNNING and as many ALIVE replica actors, none
    of them a killed one (serve.status() reports a dead replica RUNNING until its next health check)."""
    from ray import serve

    status = serve.status().applications[app]
    for name, want in expected.items():
        d = status.deployments.get(name)
        if d is None or d.status != "HEALTHY" or d.replica_states.get("RUNNING", 0) != want:
            return False
    alive = alive_replicas(app)
    counts = Counter(r.deployment for r in alive)
    return not any(r.actor_id in dead for r in alive) and all(counts[name] == want for name, want in expected.items())


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
                    torch_threads=backbone.get("torch_threads"), overlap_batches=backbone.get("overlap_batches", False))


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


def sweep_order(source: Path) -> tuple[list[str], int]:
    """Heads in the order the sweep adds them (a span head first as the target, then the other
    linear heads, then the generative ones) and how many are linear."""
    heads = read_manifest(source).heads
    linear = [h.name for h in heads if is_linear(h.kind)]
    first = next((h.name for h in heads if HEAD_KINDS[h.kind].answers_with == "span"), "")
    linear.sort(key=lambda name: name != first)
    return linear + [h.name for h in heads if not is_linear(h.kind)], len(linear)


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


def tiny_random(out: Path) -> Path:
    """The tests' tiny random model at `out`, made when there is none: it costs almost nothing to
    run, so Serve's own path is most of what a request costs."""
    from training.testing import make_random_checkpoint

    if not is_checkpoint(out):
        print(f"no checkpoint at {out}: making a random one of the tiny preset", file=sys.stderr)
        make_random_checkpoint(out, seed=0)
    return out


def require_checkpoint(parser: argparse.ArgumentParser, checkpoint: Path, preset: str) -> None:
    """Stop with the command that trains the missing checkpoint."""
    if not is_checkpoint(checkpoint):
        parser.error(f"no checkpoint at {checkpoint}; train one: python -m training train --preset {preset} --out {checkpoint}")


def cluster_env_option(parser: argparse.ArgumentParser, help: str) -> None:
    """--cluster-env KEY=VALUE, repeatable, read into a dict: more environment for the cluster's processes."""
    class KeyValue(argparse.Action):
        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, text: Any, option: Any = None) -> None:
            key, sep, value = text.partition("=")
            if not sep or not key:
                parser.error(f"argument --cluster-env: takes KEY=VALUE, got {text!r}")
            setattr(namespace, self.dest, {**getattr(namespace, self.dest), key: value})

    parser.add_argument("--cluster-env", action=KeyValue, default={}, metavar="KEY=VALUE", help=help)
