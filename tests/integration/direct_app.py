"""The CPU deploy config's application (backbone in the router, every head colocated) with
`router.ingress: direct`, on a private cluster started with Serve's direct ingress, for
test_direct_ingress.py. Direct ingress is cluster-wide, so this runs in a process of its own: the
package's cluster (conftest.py) lives in the test process and has it off.

    python -m tests.integration.direct_app CHECKPOINT

Prints one JSON line {"proxy": URL, "direct": URL, "router_user_code_env": VALUE} once both answer
/health/ready (VALUE: USER_CODE_THREAD_ENV as the router replica's process has it, read from
outside with psutil, or null), then serves until its stdin closes, then stops its cluster."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import psutil

from loadtests.serving import LocalServe
from service.deploy.cluster_env import DIRECT_INGRESS_CLUSTER_ENV, USER_CODE_THREAD_ENV
from service.deploy.serve_config import file_args
from service.deploy.settings import deep_merge

ROOT = Path(__file__).resolve().parents[2]
APP, PREFIX = "wiyh-direct", "/direct"
HANG = "WIYH-HANG"  # the colocated summary head sleeps HANG_S per call whose input carries it
HANG_S = 1.0
SLOTS = 8  # the router's max_ongoing_requests (>= the backbone's batch) and as many queued
# Serve keeps a stopping ingress replica's port open this long for a load balancer to notice
# (30 s by default); nothing balances here, and the test's teardown would wait for it.
# Serve runs our request code on the replica's own loop (USER_CODE_THREAD_ENV=0, the option
# cluster_env.py describes), so every check below holds with it too.
CLUSTER_ENV = {**DIRECT_INGRESS_CLUSTER_ENV, "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "0", USER_CODE_THREAD_ENV: "0"}


def app_args(checkpoint: str) -> dict:
    args = file_args(ROOT / "deploy" / "serve_config.yaml")
    return deep_merge(args, {
        "checkpoint": checkpoint,
        "router": {"ingress": "direct", "autoscaling": None, "num_replicas": 1, "max_ongoing_requests": SLOTS,
                   "max_queued_requests": SLOTS, "retry_after_s": 2},
        "backbone": {"placement": "router", "torch_threads": 1, "batching": {"max_batch_size": 8}},
        "heads": {"default": {"placement": "colocated", "batching": {"max_batch_size": 8}},
                  "overrides": {"summary": {"fault": {"mode": "hang", "trigger": HANG, "hang_s": HANG_S}}}},
        "limits": {"max_batch_items": 8},
        "timeouts": {"backbone_s": 20},
    })


def router_env(name: str) -> str | None:
    """`name` in the environment of the router replica's process (Ray titles it
    `ray::ServeReplica:<app>:router`), one of this process's descendants."""
    for p in psutil.Process().children(recursive=True):
        try:
            if f"ServeReplica:{APP}:router" in " ".join(p.cmdline()):
                return p.environ().get(name)
        except psutil.Error:
            continue
    raise RuntimeError(f"no process of the router replica of {APP} among this process's descendants")


def main(checkpoint: str) -> None:
    with LocalServe(num_cpus=2, serve_env=CLUSTER_ENV) as local:
        direct = local.deploy(app_args(checkpoint), APP, route_prefix=PREFIX, ready_timeout_s=180)  # the router's own port
        print(json.dumps({"proxy": local.url + PREFIX, "direct": direct, "router_user_code_env": router_env(USER_CODE_THREAD_ENV)}),
              flush=True)
        sys.stdin.read()  # until the test closes it


if __name__ == "__main__":
    main(sys.argv[1])
