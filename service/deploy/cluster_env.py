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


def with_serve_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's environment) with SERVE_CLUSTER_ENV's values where it has none."""
    base = dict(os.environ if env is None else env)
    return {**SERVE_CLUSTER_ENV, **base}
