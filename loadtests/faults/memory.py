"""Resident memory of every process of a private Ray cluster, sampled over time.

The cluster's processes are this driver's descendants: Cluster starts the GCS, the raylet and
their helpers as children, and the raylet starts every worker (controller, proxy, replicas), so
walking the process tree finds them all and none of another cluster's on the same machine. Ray
renames a worker's process title to `ray::<actor class>`, which names the replica.
"""
from __future__ import annotations

import os
import re

import psutil
from pydantic import BaseModel


class RssSample(BaseModel):
    t: float  # seconds since sampling started
    total_mb: float
    by_process: dict[str, float]  # label -> MB (replicas of one deployment summed)
    processes: int


def label(proc: psutil.Process) -> str:
    """`replica:backbone`, `ServeController`, `raylet`, `gcs_server`, ... (stable across restarts)."""
    try:
        cmd = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "?"
    first = cmd[0] if cmd else proc.name()
    if first.startswith("ray::"):
        # e.g. ray::SERVE_REPLICA::wiyh#backbone#8loxorpz:ServeReplica:wiyh:backbone.encode (method while busy)
        replica = re.search(r"ServeReplica:[^:\s]+:([A-Za-z0-9_-]+)", first)
        if replica:
            return "replica:" + replica.group(1)
        title = first.removeprefix("ray::").split()[0] if first.strip() != "ray::" else "idle"
        return "ray::" + title.split(".")[0]
    base = os.path.basename(first)
    if base.startswith("python") and len(cmd) > 1:  # dashboard, log monitor, ... started as scripts
        script = next((os.path.basename(a) for a in cmd[1:] if a.endswith(".py")), base)
        return script.removesuffix(".py")
    return base


def cluster_processes(root_pid: int | None = None) -> list[psutil.Process]:
    """Every descendant of `root_pid` (default: this process), which is not counted itself."""
    try:
        return psutil.Process(root_pid or os.getpid()).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def sample(t: float, root_pid: int | None = None) -> RssSample:
    by: dict[str, float] = {}
    count = 0
    for proc in cluster_processes(root_pid):
        try:
            rss = proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # exited between the listing and the read (a replaced replica)
        count += 1
        key = label(proc)
        by[key] = by.get(key, 0.0) + rss / 2**20
    by = {k: round(v, 1) for k, v in sorted(by.items(), key=lambda kv: -kv[1])}
    return RssSample(t=round(t, 2), total_mb=round(sum(by.values()), 1), by_process=by, processes=count)
