"""The three faults: how the service is laid out for each, and what gets killed.

Every model stage runs two replicas, so a lost replica has a sibling to take the retry; the span,
number and summary heads are their own deployments (so a head replica exists to kill), the other
heads stay inside the backbone as in the CPU config. The router stays on the head node next to
Serve's proxy: losing the ingress is a different fault (a load balancer's), not this one's.

On two nodes, the backbone, span and number keep one replica per node, and both summary replicas
are pinned to the worker node by a custom resource: losing that node shows both answers, a stage
that survives through its sibling (retry) and one that is gone until a node comes back (errors[]
for the non-target, 503 + Retry-After for the target).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from loadtests.apps import deploy_args
from loadtests.replicas import APP, Replica, alive_replicas, sigkill
from loadtests.serving import WORKER_RESOURCE, LocalServe

Fault = Literal["head", "backbone", "node"]
FAULTS: tuple[Fault, ...] = ("head", "backbone", "node")
REPLICA_HEADS = ("span", "number", "summary")
KILLED_HEAD = "span"  # target of squad and drop/hotpot span tasks, non-target of everything else
WORKER_ONLY_HEAD = "summary"  # on two nodes: both replicas on the worker node
HEAD_NODE_RESOURCE = "wiyh_head_node"  # pins the router next to the proxy, on the node that is never killed


def fault_args(checkpoint: Path, fault: Fault, replicas: int = 2) -> dict[str, Any]:
    stage: dict[str, Any] = {"autoscaling": None, "num_replicas": replicas, "torch_threads": 1}
    heads = {h: {"placement": "replica", **stage} for h in REPLICA_HEADS}
    if fault == "node":
        spread = {**stage, "max_replicas_per_node": 1}
        heads = {h: {"placement": "replica", **spread} for h in REPLICA_HEADS}
        heads[WORKER_ONLY_HEAD] = {"placement": "replica", **stage, "resources": {WORKER_RESOURCE: 1}}
        stage = spread
    return deploy_args(checkpoint, {
        "router": {"autoscaling": None, "num_replicas": 1, "resources": {HEAD_NODE_RESOURCE: 1}},
        "backbone": {**stage, "placement": "replica"},  # a backbone deployment to kill, next to head replicas
        "heads": {"overrides": heads},
    })


@dataclass
class Kill:
    what: str  # for the report
    replicas: list[Replica]  # the replica processes that died with it


def _kill_replica(deployment: str) -> Callable[[LocalServe], Kill]:
    def kill(service: LocalServe) -> Kill:
        victim = alive_replicas(APP, deployment)[0]
        sigkill(victim)
        return Kill(f"SIGKILL pid {victim.pid}: one of the {deployment} replicas", [victim])

    return kill


def kill_node(service: LocalServe) -> Kill:
    [node] = service.workers
    on_node = [r for r in alive_replicas(APP) if r.node_id == node.node_id]
    service.kill_worker(node)
    names = ", ".join(sorted(r.deployment for r in on_node))
    return Kill(f"worker node {node.node_id[:8]} removed (raylet, object store and {len(on_node)} replicas: {names})", on_node)


KILLERS: dict[Fault, Callable[[LocalServe], Kill]] = {"head": _kill_replica(f"head_{KILLED_HEAD}"), "backbone": _kill_replica("backbone"),
                                                      "node": kill_node}


def worker_nodes_for(fault: Fault) -> int:
    return 1 if fault == "node" else 0

