"""Environment of the Ray cluster that serves the application. Serve reads these when its
controller starts, so they belong to `ray start` (the demo's cluster, the benchmark's
loadtests.serving.LocalServe, the KubeRay pods: deploy/kuberay/rayservice.yaml), not to the Serve
config. A value already set in the environment wins.

RAY_SERVE_CONTROL_LOOP_INTERVAL_S (Serve's default 0.1 s): how often the controller runs its loop
(replica states, health-check results, autoscaling decisions, long-poll updates). On a 2-core
CPU its CPU was 20-40 ms per request at c=32 (most of it per second, not per request) and
1.0 s cut that to 8-14 ms (docs/results.md, Speed options). The cost: the controller notices
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

# A platform engineer's choice, not set by our scripts: with it at 0, Serve's replica runs our
# request code on its own event loop (where direct ingress's uvicorn hands it the request) instead
# of passing every request to a second thread's loop and back (Serve's default; part of
# RAY_SERVE_THROUGHPUT_OPTIMIZED). It asks that no user code block the loop, which ours does not: the
# model runs in replica/compute.py's worker thread, sync methods in Serve's thread pool. On a 2-core
# CPU it changed the router's CPU per request by less than the noise (docs/results.md, Serve's own
# processes); tests/integration/test_direct_ingress.py runs with it and checks it takes effect.
USER_CODE_THREAD_ENV = "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD"


def direct_ingress_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether Serve in a process with `env` (default: this one's) runs direct ingress, as Serve
    itself decides it (ray/serve/_private/constants.py): the flag; or RAY_SERVE_THROUGHPUT_OPTIMIZED,
    which turns it on unless the flag is set otherwise; or HAProxy, which forces it."""
    env = os.environ if env is None else env
    default = "1" if env.get("RAY_SERVE_THROUGHPUT_OPTIMIZED", "0") == "1" else "0"
    return env.get(DIRECT_INGRESS_ENV, default) == "1" or env.get(HA_PROXY_ENV, "0") == "1"


# Serve's on/off flags this project documents. Serve reads "1" as on and ANY other value as off
# (constants_utils.get_env_bool), so `true` or `yes` would silently mean off: the build refuses them.
SERVE_FLAGS = (DIRECT_INGRESS_ENV, HA_PROXY_ENV, "RAY_SERVE_THROUGHPUT_OPTIMIZED", USER_CODE_THREAD_ENV,
               "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP", "RAY_SERVE_LOG_TO_STDERR")
CONTROL_LOOP_ENV = "RAY_SERVE_CONTROL_LOOP_INTERVAL_S"


def env_problems(env: Mapping[str, str] | None = None) -> list[str]:
    """What in the cluster's environment Serve would read otherwise than it says: each names the
    variable and the fix. The app is built in the cluster's environment (`serve deploy`), so the
    build reports them before any replica starts."""
    env = os.environ if env is None else env
    problems = [f"{name}={env[name]!r} in the cluster's environment: Serve reads only 1 as on and anything else as off; "
                f"set it to 1 or 0 in the environment of `ray start` (docs/service.md, Deploy)"
                for name in SERVE_FLAGS if name in env and env[name] not in ("0", "1")]
    if CONTROL_LOOP_ENV in env:
        try:
            ok = float(env[CONTROL_LOOP_ENV]) >= 0
        except ValueError:
            ok = False
        if not ok:
            problems.append(f"{CONTROL_LOOP_ENV}={env[CONTROL_LOOP_ENV]!r} in the cluster's environment: Serve's processes "
                            f"fail at start on it; set seconds >= 0 (this project's clusters use {SERVE_CLUSTER_ENV[CONTROL_LOOP_ENV]})")
    return problems


def with_serve_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's environment) with SERVE_CLUSTER_ENV's values where it has none."""
    base = dict(os.environ if env is None else env)
    return {**SERVE_CLUSTER_ENV, **base}
