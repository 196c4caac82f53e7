"""Environment of the Ray cluster that serves the application. Serve reads these when its
controller starts, so they belong to `ray start` (the demo's cluster, the benchmark's
loadtests.serving.LocalServe, the KubeRay pods: deploy/kuberay/rayservice.yaml), not to the Serve
config. A value already set in the environment wins.

RAY_SERVE_CONTROL_LOOP_INTERVAL_S (Serve's default 0.1 s): how often the controller runs its loop
(replica states, health-check results, autoscaling decisions, long-poll updates). On the 2-core
machine its CPU was 20-40 ms per request at c=32 (most of it per second, not per request) and
1.0 s cut that to 8-14 ms (docs/service.md, Speed, session 7). The cost: the controller notices
a state change up to 1 s later, so a deploy or a replacement replica is that much slower to
become RUNNING; health checks and autoscaling keep their own periods and delays (5 s and more).
"""
from __future__ import annotations

import os
from typing import Mapping

SERVE_CLUSTER_ENV: dict[str, str] = {"RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "1.0"}

# Serve's direct ingress (`router.ingress: direct`, docs/service.md, Deploy): every ingress replica
# serves HTTP itself on a port the controller gives it (30000-31000), next to the proxy, which keeps
# working. Cluster-wide, read when Serve's processes start, so it belongs here and not in the app's
# `args:`; the app refuses `router.ingress: direct` on a cluster without it (settings.py).
DIRECT_INGRESS_ENV = "RAY_SERVE_ENABLE_DIRECT_INGRESS"
HA_PROXY_ENV = "RAY_SERVE_ENABLE_HA_PROXY"  # Serve's HAProxy in front of the replicas' ports (implies direct ingress)
DIRECT_INGRESS_CLUSTER_ENV: dict[str, str] = {**SERVE_CLUSTER_ENV, DIRECT_INGRESS_ENV: "1"}


def direct_ingress_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether Serve in a process with `env` (default: this one's) runs direct ingress, as Serve
    itself decides it (ray/serve/_private/constants.py): the flag; or RAY_SERVE_THROUGHPUT_OPTIMIZED,
    which turns it on unless the flag is set otherwise; or HAProxy, which forces it."""
    env = os.environ if env is None else env
    default = "1" if env.get("RAY_SERVE_THROUGHPUT_OPTIMIZED", "0") == "1" else "0"
    return env.get(DIRECT_INGRESS_ENV, default) == "1" or env.get(HA_PROXY_ENV, "0") == "1"


def with_serve_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's environment) with SERVE_CLUSTER_ENV's values where it has none."""
    base = dict(os.environ if env is None else env)
    return {**SERVE_CLUSTER_ENV, **base}
