"""Readings of the host cost counters (service/pipeline/hostcost.py) of every process of a mode:
{role: {"process_cpu_s", "stages"}}, taken before and after each measured cell.

    in-process   the benchmark's own process (engine, micro-batcher and the clients' loop)
    Serve        the router, the backbone and the head replicas (their counters, read over a
                 handle), plus Serve's HTTP proxy, its controller and Ray's raylet and GCS (their
                 CPU from psutil: they run none of our code, so all of it is unattributed)
"""
from __future__ import annotations

from typing import Any

from service.pipeline.hostcost import CLOCK, HARNESS

Reading = dict[str, dict[str, Any]]
# Processes of the serving path that run none of our code, by measure._role's names.
SERVE_SYSTEM_ROLES = ("http_proxy", "serve_controller", "ray_system")


def in_process() -> Reading:
    return {"engine": CLOCK.snapshot()}


def add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two processes' readings as one (head replicas are reported together as `heads`)."""
    stages = dict(a.get("stages") or {})
    for k, v in (b.get("stages") or {}).items():
        stages[k] = stages.get(k, 0.0) + v
    return {"process_cpu_s": a.get("process_cpu_s", 0.0) + b.get("process_cpu_s", 0.0), "stages": stages}


def serve(app: str) -> Reading:
    """Every replica of `app` (one per deployment, as the benchmark deploys them) and Serve's own
    processes. Blocking: call it from a thread, never from the event loop."""
    with CLOCK.stage(HARNESS):  # it runs in the benchmark's process, which is the in-process engine's too
        return _read_serve(app)


def _read_serve(app: str) -> Reading:
    from ray import serve as ray_serve

    from loadtests.measure import cpu_by_role

    status = ray_serve.status().applications[app]
    reading: Reading = {}
    for deployment in status.deployments:
        handle = ray_serve.get_deployment_handle(deployment, app_name=app)
        snap = handle.host_cost.remote().result(timeout_s=180)  # a starved replica (nice 15 next to training) took over 30 s
        role = "heads" if deployment.startswith("head_") else deployment
        reading[role] = add(reading[role], snap) if role in reading else snap
    cpu = cpu_by_role(app)
    for role in SERVE_SYSTEM_ROLES:
        reading[role] = {"process_cpu_s": cpu.get(role, 0.0), "stages": {}}
    return reading
