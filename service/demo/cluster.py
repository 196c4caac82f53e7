"""The demo's own Ray cluster: one head node on the local host that no other Ray shares.

Everything about it is its own: a new temp dir (sessions, sockets, logs and Ray's "current
cluster" file land there, so nobody's `ray.init()` joins it by accident), free ports for the GCS,
the Ray client server and the dashboard agent, and the dashboard on 127.0.0.1 only (what `serve
status`, `serve config` and `serve deploy` talk to). Where it lives is written to a small JSON
file, so a later `python -m service.demo` reuses it and `--stop` stops exactly its processes and
nothing else: `ray stop` would stop every Ray process on the machine.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import httpx
import psutil

from service.deploy.cluster_env import with_serve_env

BIN = Path(sys.executable).parent
DEFAULT_DASHBOARD_PORT = 8265  # where `serve status` and the Ray dashboard look when given no address


class ClusterError(RuntimeError):
    """The cluster could not be started or stopped; the message says why and what to do."""


def free_port() -> int:
    """A free port on 127.0.0.1 outside 10002-19999, the range Ray keeps for its workers."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not 10002 <= port <= 19999:
            return port


# Ray binds Unix sockets under a node's temp dir, at most 107 bytes a path:
# <private dir>/ray/session_<date>_<time>_<usec>_<pid>/sockets/plasma_store leaves 39 for the private
# dir. A longer $TMPDIR (a CI runner's, a macOS-style one) falls back to /tmp.
_LONGEST_PRIVATE_DIR = 107 - len("/ray/session_2026-12-06_20-03-00_809017_4194304/sockets/plasma_store")
_RANDOM_SUFFIX = 8  # the characters tempfile.mkdtemp adds to the prefix


def private_temp_dir(prefix: str) -> Path:
    """A new, empty folder for one cluster's files, under the system temp dir ($TMPDIR) when the
    folder's path leaves room for Ray's socket paths, else under /tmp."""
    base = tempfile.gettempdir()
    if len(base) + 1 + len(prefix) + _RANDOM_SUFFIX > _LONGEST_PRIVATE_DIR:
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def ray_temp_root(root: str | Path) -> Path:
    """The folder to give Ray as a node's temp dir when $RAY_TMPDIR is `root`. Ray writes its
    "current cluster" file into `$RAY_TMPDIR/ray/` without creating that folder first (a machine
    that never ran Ray has none: every cluster start failed there), and creates a node's temp dir
    itself; so the node's temp dir is that `ray/` folder, and the address file lands inside it."""
    return Path(root) / "ray"


@contextmanager
def ray_tmpdir(root: str | Path) -> Iterator[Path]:
    """$RAY_TMPDIR set to `root` while the block runs, then as it was: Ray derives every default
    path from it (the address file, a `ray.init()` session), so nothing of this cluster lands in
    the machine's shared temp dir, and nothing there is needed."""
    saved = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = str(root)
    try:
        yield ray_temp_root(root)
    finally:
        if saved is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = saved


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@dataclass
class LocalCluster:
    temp_dir: str
    gcs_port: int
    dashboard_port: int
    metrics_port: int

    @property
    def gcs_address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def save(self, state_file: Path) -> None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, state_file: Path) -> "LocalCluster | None":
        try:
            return cls(**json.loads(state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def env(self) -> dict[str, str]:
        """The environment of every process that talks to this cluster (ray, serve, their children)."""
        env = {k: v for k, v in with_serve_env().items() if k not in ("RAY_ADDRESS", "RAY_DASHBOARD_ADDRESS")}
        env["RAY_TMPDIR"] = self.temp_dir
        # Ray 2.60 turns token auth on for `ray start` whenever ~/.ray/auth_token exists (any local
        # `ray.init()` writes one), while `serve status` / `serve deploy` typed in a shell send no
        # token unless RAY_AUTH_MODE=token is set there too: they would get 401. The demo's cluster
        # says its mode explicitly, so Serve's CLI works from any shell; its dashboard listens on
        # 127.0.0.1 only. Set RAY_AUTH_MODE=token in your shell before `make demo` to use tokens.
        env.setdefault("RAY_AUTH_MODE", "disabled")
        return env

    def processes(self) -> list[psutil.Process]:
        """This cluster's processes: those whose command line names its temp dir or its GCS
        address (the Ray client server names only that), and all their descendants (workers,
        replicas, dashboard modules)."""
        found: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter(["pid", "cmdline"]):
            args = proc.info["cmdline"] or []
            if any(self.temp_dir in a or (a.startswith("--") and a.endswith(f":{self.gcs_port}")) for a in args):
                found[proc.pid] = proc
                try:
                    for child in proc.children(recursive=True):
                        found[child.pid] = child
                except psutil.NoSuchProcess:
                    pass
        found.pop(os.getpid(), None)
        return list(found.values())

    def wait_for_dashboard(self, timeout_s: float) -> None:
        """Until the dashboard answers: `serve deploy` and `serve status` go through it, and on a
        busy machine it comes up some seconds after `ray start` returns."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"{self.dashboard_url}/api/version", timeout=5)
                # 401: the dashboard is up and asks for Ray's auth token (~/.ray/auth_token or
                # $RAY_AUTH_TOKEN), which the `serve` CLI sends by itself.
                if r.status_code in (200, 401):
                    return
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as err:
                last = type(err).__name__
            time.sleep(0.5)
        raise ClusterError(f"the Ray dashboard at {self.dashboard_url} did not answer within {timeout_s:g} s ({last}); "
                           f"its log: {self.temp_dir}/session_latest/logs/dashboard.log")

    def running(self) -> bool:
        """The GCS answers on its port (the cluster is up)."""
        try:
            with socket.create_connection(("127.0.0.1", self.gcs_port), timeout=1):
                return True
        except OSError:
            return False


def _free_or_another(port: int, what: str) -> int:
    if port_is_free(port):
        return port
    chosen = free_port()
    print(f"port {port} is taken (another Ray cluster?): this cluster's {what} uses {chosen}")
    return chosen


def start_cluster(dashboard_port: int, metrics_port: int, num_cpus: int | None = None) -> LocalCluster:
    """A new head node on 127.0.0.1 with its own temp dir and ports."""
    dashboard_port = _free_or_another(dashboard_port, "dashboard")
    metrics_port = _free_or_another(metrics_port, "metrics")
    cluster = LocalCluster(temp_dir=str(private_temp_dir("wiyh-demo-")), gcs_port=free_port(),
                           dashboard_port=dashboard_port, metrics_port=metrics_port)
    cmd = [str(BIN / "ray"), "start", "--head", "--disable-usage-stats", "--node-ip-address=127.0.0.1",
           f"--port={cluster.gcs_port}", f"--temp-dir={cluster.temp_dir}",
           "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
           f"--metrics-export-port={metrics_port}", f"--ray-client-server-port={free_port()}",
           f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
           f"--runtime-env-agent-port={free_port()}"]
    if num_cpus is not None:
        cmd.append(f"--num-cpus={num_cpus}")
    done = subprocess.run(cmd, capture_output=True, text=True, env=cluster.env(), cwd=Path(__file__).resolve().parents[2])
    if done.returncode != 0:
        stop_cluster(cluster)
        raise ClusterError(f"`ray start` failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}")
    return cluster


def stop_cluster(cluster: LocalCluster, grace_s: float = 5.0) -> int:
    """Stop this cluster's processes (SIGTERM, then SIGKILL after `grace_s`); returns how many."""
    procs = cluster.processes()
    for proc in procs:
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    deadline = time.monotonic() + 5
    while cluster.running() and time.monotonic() < deadline:
        time.sleep(0.2)
    return len(procs)
