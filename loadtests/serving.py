"""A private Ray cluster on 127.0.0.1 with Serve and this project's applications on it (the one
cluster of the load scripts and the integration tests), and its replicas. Private as the demo's
cluster is: its own temp dir (so no one else's `ray.init()` joins it) and free ports (two clusters
on one machine both take the dashboard agent's default port, and the second one's raylet dies).
Closing it stops only the processes it started, never `ray stop`, which would stop everyone's."""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import httpx

# one definition: the demo picks its ports and its temp dir the same way
from service.demo.cluster import free_port, private_temp_dir, ray_tmpdir
from service.deploy.cluster_env import DIRECT_INGRESS_ENV, HA_PROXY_ENV
from service.deploy.liveness import alive_replica_actors

# The cluster variables the application's build reads (service.deploy.settings.ingress_problems).
BUILD_READS = (DIRECT_INGRESS_ENV, HA_PROXY_ENV, "RAY_SERVE_THROUGHPUT_OPTIMIZED")
WORKER_RESOURCE = "wiyh_worker_node"  # offered by every worker node, to pin replicas there
APP = "wiyh"  # the application's name where a run serves one
log = logging.getLogger("wiyh.loadtests")


class LocalServe:
    """A head node with Serve's controller and its HTTP proxy on a free port, worker nodes on
    demand. `serve_env`: environment of the cluster's processes, as `ray start` would get it (None:
    Serve's defaults, quicker to deploy). `request_timeout_s`: the proxy's bound on a request."""

    def __init__(self, num_cpus: int | None = None, metrics_port: int | None = None,
                 system_config: dict[str, Any] | None = None, serve_env: dict[str, str] | None = None,
                 head_resources: dict[str, float] | None = None, object_store_mib: int | None = None,
                 request_timeout_s: float | None = None):
        # ray.cluster_utils.Cluster gives a node 1 CPU unless told: with the CPU config's fractions
        # the fan-out application (router 0.1 + backbone 0.5 + 8 heads x 0.1) never fits.
        self.head = {"num_cpus": num_cpus if num_cpus is not None else os.cpu_count() or 1, "include_dashboard": False,
                     "metrics_export_port": metrics_port, "_system_config": system_config or {},
                     "env_vars": dict(serve_env or {}), "resources": head_resources or {}}
        if object_store_mib:
            self.head["object_store_memory"] = object_store_mib * 2**20
        self.http = {"host": "127.0.0.1", **({"request_timeout_s": request_timeout_s} if request_timeout_s else {})}
        self.port = 0
        self.temp_dir: Path | None = None
        self.workers: list[Any] = []
        self._scope = ExitStack()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "LocalServe":
        import ray
        from ray import serve
        from ray.cluster_utils import Cluster

        try:
            self.temp_dir = private_temp_dir("wiyh-serve-")
            self._scope.callback(shutil.rmtree, self.temp_dir, ignore_errors=True)
            # This process builds the applications, which checks the settings against the cluster's
            # environment (settings.ingress_problems): it gets the variables that check reads. Only
            # those: as a client, a flag such as RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP=0 would
            # change how its own handle calls run.
            exported = {k: v for k, v in self.head["env_vars"].items() if k in BUILD_READS}
            self._scope.enter_context(patch.dict(os.environ, exported))
            # Before any Ray call: every path Ray derives (sessions, sockets, the address file) lands here.
            node_temp_dir = self._scope.enter_context(ray_tmpdir(self.temp_dir))
            self.cluster = Cluster(initialize_head=True, head_node_args={
                **self.head, "temp_dir": str(node_temp_dir), "metrics_export_port": self.head["metrics_export_port"] or free_port(),
                "dashboard_agent_listen_port": free_port(), "ray_client_server_port": free_port(), "runtime_env_agent_port": free_port()})
            self._scope.callback(self.cluster.shutdown)
            ray.init(address=self.cluster.address, log_to_driver=False, logging_level="WARNING")
            self.port = free_port()
            # One proxy, on the head node: the nodes share this machine's 127.0.0.1, and the head
            # node, which is never killed, keeps the clients' port.
            serve.start(proxy_location="HeadOnly", http_options={**self.http, "port": self.port})
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        import ray
        from ray import serve

        try:
            if ray.is_initialized():
                serve.shutdown()
        except Exception as err:  # the cluster goes anyway; say why Serve did not stop cleanly
            log.warning("serve.shutdown failed: %s", err)
        finally:
            ray.shutdown()
            self._scope.close()  # the cluster's processes, then its environment and its temp dir

    def add_worker(self) -> None:
        """A worker node offering WORKER_RESOURCE (what `ray start --address=...` does on a new machine)."""
        self.workers.append(self.cluster.add_node(num_cpus=2, resources={WORKER_RESOURCE: 1000}, object_store_memory=200 * 2**20))

    def kill_worker(self, node: Any) -> None:
        """The whole node at once: raylet, object store and every replica on it, no graceful stop."""
        self.cluster.remove_node(node, allow_graceful=False)
        self.workers.remove(node)

    def deploy(self, args: dict[str, Any], name: str, route_prefix: str = "/", ready_timeout_s: float = 300) -> str:
        """Run the application built from `args` and wait until it is ready; the URL its clients call:
        the proxy's, or with `router.ingress: direct` the router replica's own HTTP server."""
        from ray import serve

        from service.deploy.app import build_app

        serve.run(build_app(args), name=name, route_prefix=route_prefix)
        url = self.url + ("" if route_prefix == "/" else route_prefix)
        wait_ready(url, ready_timeout_s)
        if args.get("router", {}).get("ingress") == "direct":
            url = direct_ingress_url(name, route_prefix)
            wait_ready(url, ready_timeout_s)
        return url


def under_load(head_resources: dict[str, float] | None = None) -> LocalServe:
    """The fault and soak runs' cluster: 2 CPUs, a 300 MiB object store, and no HTTP answer later
    than 30 s (the service's own timeouts are shorter, so a client normally sees our 5xx first)."""
    return LocalServe(num_cpus=2, head_resources=head_resources, object_store_mib=300, request_timeout_s=30.0)


def direct_ingress_url(app: str, route_prefix: str) -> str:
    """Where `app`'s one router replica serves HTTP itself (direct ingress): the port in the
    `target_groups` of the controller's instance details (the dashboard's /api/serve/applications/;
    this cluster runs none, so the driver's Serve client is asked). The replica listens on
    http_options.host, 127.0.0.1, whatever node IP the target names."""
    from ray.serve.context import _get_global_client

    groups = _get_global_client().get_serve_details().get("target_groups", [])
    targets = [t for g in groups if g.get("app_name") == app and str(g.get("protocol")).endswith("HTTP") for t in g["targets"]]
    if len(targets) != 1:
        raise RuntimeError(f"expected one direct-ingress HTTP target for application {app!r}, found {targets} "
                           f"(is the cluster started with RAY_SERVE_ENABLE_DIRECT_INGRESS=1, with one router replica?)")
    return f"http://127.0.0.1:{targets[0]['port']}" + ("" if route_prefix == "/" else route_prefix)


def wait_ready(url: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # the proxy is not up yet
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} was not ready within {timeout_s:g} s")
        time.sleep(0.5)


def cluster_env_option(parser: argparse.ArgumentParser, help: str) -> None:
    """--cluster-env KEY=VALUE, repeatable, read into a dict: more environment for the cluster's processes."""
    def key_value(text: str) -> tuple[str, str]:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"takes KEY=VALUE, got {text!r}")
        return key, value

    parser.add_argument("--cluster-env", action="append", type=key_value, default=[], metavar="KEY=VALUE", help=help)


@dataclass(frozen=True)
class Replica:
    deployment: str
    actor_id: str
    pid: int
    node_id: str


def alive_replicas(app: str, deployment: str | None = None) -> list[Replica]:
    """The ALIVE replica actors of `app` (of one deployment when named)."""
    found = [Replica(actor["ActorClassName"].rsplit(":", 1)[1], actor["ActorID"], int(actor["Pid"]),
                     actor["Address"]["NodeID"]) for actor in alive_replica_actors(app, deployment)]
    return sorted(found, key=lambda r: (r.deployment, r.actor_id))


def sigkill(replica: Replica) -> None:
    """What an OOM kill or a segfault does: no cleanup, no goodbye to the controller."""
    os.kill(replica.pid, signal.SIGKILL)


def replica_counts(status: Any, app: str = APP) -> tuple[dict[str, int], dict[str, int]]:
    """RUNNING replicas and replicas in any state per deployment of `app`, from serve.status()."""
    found = status.applications.get(app)
    deployments = found.deployments.items() if found is not None else []
    return ({name: int(d.replica_states.get("RUNNING", 0)) for name, d in deployments},
            {name: int(sum(d.replica_states.values())) for name, d in deployments})


def serve_whole(app: str, expected: dict[str, int], dead: set[str]) -> bool:
    """Every deployment HEALTHY with all its replicas RUNNING and as many ALIVE replica actors, none
    of them a killed one (serve.status() reports a dead replica RUNNING until its next health check)."""
    from ray import serve

    status = serve.status().applications[app]
    for name, want in expected.items():
        d = status.deployments.get(name)
        if d is None or d.status != "HEALTHY" or d.replica_states.get("RUNNING", 0) != want:
            return False
    alive = alive_replicas(app)
    counts = Counter(r.deployment for r in alive)
    return not any(r.actor_id in dead for r in alive) and all(counts[name] == want for name, want in expected.items())
