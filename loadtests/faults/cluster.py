"""A private local Ray cluster on 127.0.0.1 serving the real application, for fault and soak runs.

Isolated from every other Ray on the machine: its own temp dir (RAY_TMPDIR), so the
"current cluster" address file it writes never makes someone else's `ray.init()` join it, and
free ports. Shut down with `close()`: only the processes this cluster started are stopped (never
`ray stop`, which would stop everyone's).
"""
from __future__ import annotations

import logging
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from loadtests.serving import free_port
from service.demo.cluster import private_temp_dir, ray_tmpdir
from service.deploy.settings import deep_merge

ROOT = Path(__file__).resolve().parents[2]
APP = "wiyh"
HEAD_NODE_RESOURCE = "wiyh_head_node"  # pins the router next to the proxy, on the node that is never killed
WORKER_RESOURCE = "wiyh_worker_node"
# The proxy's bound on a request: nothing waits longer for an HTTP answer. Ours are shorter, so a
# client normally sees our 5xx with a reason first.
REQUEST_TIMEOUT_S = 30.0

log = logging.getLogger("wiyh.loadtests")


def deploy_args(checkpoint: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """deploy/serve_config.yaml's `args:` (what production runs), the checkpoint, then `overrides`."""
    config = yaml.safe_load((ROOT / "deploy" / "serve_config.yaml").read_text())
    args = config["applications"][0]["args"]
    args["checkpoint"] = str(checkpoint.resolve())
    return deep_merge(args, overrides or {})


@dataclass
class LocalService:
    """Head node (proxy, controller, router) plus optional worker nodes, and the app on top."""

    args: dict[str, Any]
    head_cpus: int = 2
    worker_cpus: int = 2
    url: str = ""
    temp_dir: Path = field(default_factory=lambda: private_temp_dir("wiyh-ray-"))
    _cluster: Any = None
    _scope: ExitStack = field(default_factory=ExitStack)
    _workers: list = field(default_factory=list)

    def start(self, workers: int = 0, ready_deadline_s: float = 300) -> "LocalService":
        # Before any Ray call: every path Ray derives (sessions, sockets, the address file) lands here.
        node_temp_dir = self._scope.enter_context(ray_tmpdir(self.temp_dir))
        from ray import serve
        from ray.cluster_utils import Cluster

        from service.deploy.app import build_app

        self._cluster = Cluster()
        self._cluster.add_node(num_cpus=self.head_cpus, resources={HEAD_NODE_RESOURCE: 1000}, include_dashboard=False,
                               object_store_memory=300 * 1024 * 1024, temp_dir=str(node_temp_dir))
        for _ in range(workers):
            self.add_worker()
        import ray

        ray.init(address=self._cluster.address, log_to_driver=False, logging_level="WARNING")
        port = free_port()
        serve.start(proxy_location="HeadOnly",
                    http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": REQUEST_TIMEOUT_S})
        serve.run(build_app(self.args), name=APP, route_prefix="/", blocking=False)
        self.url = f"http://127.0.0.1:{port}"
        self.wait_ready(ready_deadline_s)
        return self

    def wait_ready(self, deadline_s: float) -> None:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass  # the proxy is not up yet
            time.sleep(1)
        raise TimeoutError(f"the service at {self.url} was not ready within {deadline_s:g} s")

    def add_worker(self) -> Any:
        """A worker node offering WORKER_RESOURCE (what `ray start --address=...` does on a new machine)."""
        node = self._cluster.add_node(num_cpus=self.worker_cpus, resources={WORKER_RESOURCE: 1000},
                                      object_store_memory=200 * 1024 * 1024)
        self._workers.append(node)
        return node

    def kill_worker(self, node: Any) -> None:
        """The whole node at once: raylet, object store and every replica on it, no graceful stop."""
        self._cluster.remove_node(node, allow_graceful=False)
        self._workers.remove(node)

    @property
    def workers(self) -> list:
        return list(self._workers)

    def count_in_logs(self, phrase: str) -> int:
        """Lines of this cluster's logs (every process, every node) that contain `phrase`: how often
        the replicas did something the clients cannot see, such as a retry."""
        count = 0
        for path in self.temp_dir.glob("**/logs/**/*"):
            if path.is_file() and path.suffix in (".log", ".err", ".out"):
                with path.open(errors="replace") as f:
                    count += sum(phrase in line for line in f)
        return count

    def close(self) -> None:
        import ray
        from ray import serve

        try:
            serve.shutdown()
        except Exception as err:  # the cluster goes anyway; say why Serve did not stop cleanly
            log.warning("serve.shutdown failed: %s", err)
        ray.shutdown()
        if self._cluster is not None:
            self._cluster.shutdown()
        self._scope.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> "LocalService":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
