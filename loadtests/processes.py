"""The processes of a load run and of its private cluster, read from outside (psutil): what each
one is, its CPU time, its resident memory. The cluster's processes are this driver's descendants,
so walking the process tree finds them all and none of another cluster's."""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections import Counter

import psutil
from pydantic import BaseModel

# A process title -> its role, for the processes that are no replica of the application.
ROLES = {"ProxyActor": "http_proxy", "ServeController": "serve_controller", "raylet": "ray_system", "gcs_server": "ray_system"}


def ours() -> list[psutil.Process]:
    """This process, then its descendants."""
    me = psutil.Process()
    try:
        return [me, *me.children(recursive=True)]
    except psutil.Error:
        return [me]


def cmdline(p: psutil.Process) -> str:
    """The command line of `p`; "" once it has exited."""
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def cpu_s(p: psutil.Process, children: bool = False) -> float:
    """CPU seconds `p` used so far (with its reaped children's); 0 once it has exited."""
    try:
        t = p.cpu_times()
    except psutil.Error:
        return 0.0
    return t.user + t.system + (t.children_user + t.children_system if children else 0.0)


def role(command: str, app: str) -> str | None:
    """Which part of `app`'s serving path a process is: a deployment (head replicas summed as
    "heads"), Serve's proxy or controller, or Ray's own; Ray titles a replica `...ServeReplica:<app>:<deployment>`."""
    marker = f"ServeReplica:{app}:"
    if marker in command:
        deployment = command.split(marker, 1)[1].split(".", 1)[0].split()[0]
        return "heads" if deployment.startswith("head_") else deployment
    return next((name for title, name in ROLES.items() if title in command), None)


def cpu_by_role(app: str) -> dict[str, float]:
    """CPU seconds used so far by each part of `app`'s serving path (not the clients' process)."""
    totals: Counter[str] = Counter()
    for p in ours()[1:]:
        if (found := role(cmdline(p), app)) is not None:
            totals[found] += cpu_s(p)
    return dict(totals)


def own_cpu() -> dict[str, float]:
    """CPU seconds used so far by this process: an in-process mode's engine and its clients."""
    return {"benchmark process": cpu_s(psutil.Process())}


def label(p: psutil.Process, cmd: list[str]) -> str:
    """`replica:backbone`, `ray::ServeController`, `raylet`, `gcs_server`, ... (stable across restarts)."""
    first = cmd[0] if cmd else p.name()
    if first.startswith("ray::"):
        # e.g. ray::SERVE_REPLICA::wiyh#backbone#8loxorpz:ServeReplica:wiyh:backbone.encode (method while busy)
        replica = re.search(r"ServeReplica:[^:\s]+:([A-Za-z0-9_-]+)", first)
        if replica:
            return "replica:" + replica.group(1)
        return "ray::" + (first.removeprefix("ray::").split()[0].split(".")[0] if first.strip() != "ray::" else "idle")
    base = os.path.basename(first)
    if base.startswith("python") and len(cmd) > 1:  # dashboard, log monitor, ... started as scripts
        return next((os.path.basename(a) for a in cmd[1:] if a.endswith(".py")), base).removesuffix(".py")
    return base


class RssSample(BaseModel):
    t: float  # seconds since sampling started
    total_mb: float
    by_process: dict[str, float]  # label -> MiB (replicas of one deployment summed)
    processes: int


def rss(t: float, app: str | None = None) -> RssSample:
    """Resident memory of this process's descendants, or of `app`'s replicas only (shared pages
    count once per process, as they do for separate models)."""
    by: Counter[str] = Counter()
    count = 0
    for p in ours()[1:]:
        try:
            cmd = p.cmdline()
            if app is not None and f"ServeReplica:{app}:" not in " ".join(cmd):
                continue
            by[label(p, cmd)] += p.memory_info().rss / 2**20
        except psutil.Error:
            continue  # exited between the listing and the read (a replaced replica)
        count += 1
    rounded = {k: round(v, 1) for k, v in by.most_common()}
    return RssSample(t=round(t, 2), total_mb=round(sum(rounded.values()), 1), by_process=rounded, processes=count)


class Sampler:
    """`rss(t, app)` every `every_s` seconds from a thread while the block runs, and once at its end."""

    def __init__(self, app: str | None = None, every_s: float = 0.5):
        self.app, self.every_s = app, every_s
        self.samples: list[RssSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def peak(self) -> float:
        return max((s.total_mb for s in self.samples), default=0.0)

    def __enter__(self) -> "Sampler":
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(rss(time.monotonic() - self._t0, self.app))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(rss(time.monotonic() - self._t0, self.app))
            self._stop.wait(self.every_s)


class ForeignLoad:
    """The share of the machine's CPU (0..1) that processes outside this run and its descendants
    used meanwhile: whether a row can be trusted on a shared box."""

    share: float = 0.0

    def __enter__(self) -> "ForeignLoad":
        self._start = self._reading()
        return self

    def __exit__(self, *exc: object) -> None:
        wall, busy, mine = (end - start for end, start in zip(self._reading(), self._start))
        self.share = max(0.0, busy - mine) / (max(wall, 1e-9) * (psutil.cpu_count() or 1))

    @staticmethod
    def _reading() -> tuple[float, float, float]:
        """Now, the machine's busy CPU seconds, and this run's (descendants included)."""
        t = psutil.cpu_times()
        return time.monotonic(), t.user + t.system + getattr(t, "nice", 0.0), sum(cpu_s(p, children=True) for p in ours())


def gpu_memory_used_mib() -> float:
    """Memory in use on GPU 0 as nvidia-smi reports it (every process's, ours included)."""
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                         capture_output=True, text=True, timeout=10)
    return float(out.stdout.strip() or 0)
