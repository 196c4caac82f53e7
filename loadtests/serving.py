"""The Serve application under test: started on 127.0.0.1 with a given placement of the heads,
called over HTTP, every answer checked."""
from __future__ import annotations

import copy
import os
import shutil
import statistics
import time
from contextlib import ExitStack
from typing import Any, Literal

import httpx

from loadtests.checks import Catalog, check_batch, check_predict
# one definition: the demo picks its ports and its temp dir the same way
from service.demo.cluster import free_port, private_temp_dir, ray_tmpdir
from service.deploy.cluster_env import DIRECT_INGRESS_ENV, HA_PROXY_ENV


Placement = Literal["replica", "colocated"]

# The cluster variables the application's build reads (service.deploy.settings.ingress_problems).
BUILD_READS = (DIRECT_INGRESS_ENV, HA_PROXY_ENV, "RAY_SERVE_THROUGHPUT_OPTIMIZED")


def placement_args(base: dict[str, Any], placement: Placement, checkpoint: str, head_names: list[str],
                   gpu_share: float = 1.0, backbone_placement: str | None = None) -> dict[str, Any]:
    """The deploy config's `args:` with one replica per stage (autoscaling would blur the rows)
    and every head in `placement`; its GPU asks fit `gpu_share` of one device (several
    applications up at once on one GPU split it). The backbone keeps the config's placement
    (`backbone_placement` replaces it), except that heads as replicas need it as its own deployment."""
    args = copy.deepcopy(base)
    args["checkpoint"] = checkpoint
    backbone = args.setdefault("backbone", {})
    if backbone_placement is not None:
        backbone["placement"] = backbone_placement
    if placement == "replica":
        backbone["placement"] = "replica"
    single = {"autoscaling": None, "num_replicas": 1}
    for stage in (args.setdefault("router", {}), args.setdefault("backbone", {}), args.setdefault("heads", {}).setdefault("default", {})):
        stage.update(single)
    args["heads"]["overrides"] = {name: {"placement": placement} for name in head_names}
    if placement == "replica":
        fit_gpu_fractions(args, len(head_names))
    scale_gpu_asks(args, len(head_names) if placement == "replica" else 0, gpu_share)
    return args


def fit_gpu_fractions(args: dict[str, Any], replica_heads: int) -> None:
    """Head replicas that ask for a GPU share what the backbone leaves of one device: eight heads
    at the GPU config's 0.1 each plus the backbone's 0.5 would ask for 1.3 GPUs and never start."""
    head = args["heads"]["default"]
    wanted = head.get("num_gpus", 0) * replica_heads
    left = 1.0 - args.get("backbone", {}).get("num_gpus", 0)
    if wanted > left > 0:
        head["num_gpus"] = left / replica_heads


def gpu_asked(args: dict[str, Any], replica_heads: int) -> float:
    """GPUs the application asks Ray for: the backbone and each head replica (colocated heads none)."""
    return args.get("backbone", {}).get("num_gpus", 0) + args["heads"]["default"].get("num_gpus", 0) * replica_heads


def cpu_asked(args: dict[str, Any], replica_heads: int) -> float:
    """Logical CPUs the application asks Ray for (service/deploy/stages.py: 0.1 a stage unless set)."""
    return (args.get("router", {}).get("num_cpus", 0.1) + args.get("backbone", {}).get("num_cpus", 0.1)
            + args["heads"]["default"].get("num_cpus", 0.1) * replica_heads)


def scale_gpu_asks(args: dict[str, Any], replica_heads: int, share: float) -> None:
    """Scale every GPU ask down so the application asks at most `share` of a GPU: the fan-out and
    colocated applications of the GPU config asked 1.0 + 0.5 together, and the second never started."""
    asked = gpu_asked(args, replica_heads)
    if asked <= share or asked == 0:
        return
    factor = share / asked
    for stage in (args.get("backbone", {}), args["heads"]["default"]):
        if stage.get("num_gpus"):
            stage["num_gpus"] = stage["num_gpus"] * factor


class LocalServe:
    """A private Ray head node on the local host and Serve's HTTP proxy on a free 127.0.0.1 port: the
    one "start Serve and wait until it is ready" of the load scripts (bench, autoscale, profile)
    and the integration tests. Private as the demo's cluster is: its own temp dir ($RAY_TMPDIR
    while it runs, so it needs nothing and leaves nothing in the machine's), and free ports
    for the dashboard agent and the Ray client server, so two runs on one machine do not collide
    (two `ray.init()` clusters both take the agent's default port 52365, and the second one's
    raylet dies at startup). A context manager; `deploy()` runs one application of this project
    under a route prefix and returns once its /health/ready answers 200. The fault and soak runs
    need several nodes: loadtests/faults/cluster.LocalService."""

    def __init__(self, num_cpus: int | None = None, metrics_port: int | None = None,
                 system_config: dict[str, Any] | None = None, serve_env: dict[str, str] | None = None):
        """`serve_env`: environment of the cluster's processes beyond this one's, as `ray start` would
        be given it (the benchmark passes service.deploy.cluster_env.SERVE_CLUSTER_ENV, as the demo's
        cluster has it; None: Serve's defaults, which the tests keep for quicker deploys)."""
        self.num_cpus, self.metrics_port, self.system_config = num_cpus, metrics_port, system_config or {}
        self.serve_env = dict(serve_env or {})
        self.port = 0
        self.temp_dir = ""
        self._saved_env: dict[str, str | None] = {}
        self._cluster: Any = None
        self._scope = ExitStack()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "LocalServe":
        import ray
        from ray import serve
        from ray.cluster_utils import Cluster

        # This process builds the applications (serve.run), as `ray start`'s environment builds them
        # for `serve deploy`: the build checks the settings against the cluster's environment
        # (settings.ingress_problems), so it gets the variables that check reads for as long as the
        # cluster runs. Only those: this process is a client too, and a flag such as
        # RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP=0 would change how its own handle calls run.
        exported = {k: v for k, v in self.serve_env.items() if k in BUILD_READS}
        self._saved_env = {k: os.environ.get(k) for k in exported}
        os.environ.update(exported)
        self.temp_dir = str(private_temp_dir("wiyh-serve-"))
        node_temp_dir = self._scope.enter_context(ray_tmpdir(self.temp_dir))
        head = {"include_dashboard": False, "temp_dir": str(node_temp_dir), "dashboard_agent_listen_port": free_port(),
                "ray_client_server_port": free_port(), "runtime_env_agent_port": free_port(),
                "metrics_export_port": self.metrics_port or free_port(), "_system_config": self.system_config,
                "env_vars": self.serve_env}
        # ray.cluster_utils.Cluster gives a node 1 CPU unless told: with the CPU config's fractions
        # the fan-out application (router 0.1 + backbone 0.5 + 8 heads x 0.1) then never fits.
        head["num_cpus"] = self.num_cpus if self.num_cpus is not None else os.cpu_count() or 1
        try:
            self._cluster = Cluster(initialize_head=True, head_node_args=head)
            ray.init(address=self._cluster.address, log_to_driver=False, logging_level="WARNING")
            self.port = free_port()
            serve.start(http_options={"host": "127.0.0.1", "port": self.port})
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def deploy(self, args: dict[str, Any], name: str, route_prefix: str = "/", ready_timeout_s: float = 300) -> str:
        """Build the application from `args` (the config's `args:`), run it, wait until ready;
        returns its base URL."""
        from ray import serve

        from service.deploy.app import build_app

        serve.run(build_app(args), name=name, route_prefix=route_prefix)
        url = self.url + ("" if route_prefix == "/" else route_prefix)
        wait_ready(url, ready_timeout_s)
        return url

    def deploy_direct(self, args: dict[str, Any], name: str, route_prefix: str, ready_timeout_s: float = 300) -> str:
        """As deploy(), on a cluster started with direct ingress (serve_env with
        service.deploy.cluster_env.DIRECT_INGRESS_CLUSTER_ENV); returns the base URL of the
        application's router replica's own HTTP server instead of the proxy's."""
        self.deploy(args, name, route_prefix, ready_timeout_s)
        url = direct_ingress_url(name, route_prefix)
        wait_ready(url, ready_timeout_s)
        return url

    def __exit__(self, *exc: object) -> None:
        import ray
        from ray import serve

        try:
            if ray.is_initialized():
                serve.shutdown()
        finally:
            ray.shutdown()
            if self._cluster is not None:
                self._cluster.shutdown()
            self._scope.close()
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def direct_ingress_url(app: str, route_prefix: str) -> str:
    """Where `app`'s one router replica serves HTTP itself (direct ingress). Serve's controller
    publishes every ingress replica's port in the `target_groups` of its instance details, the
    document the dashboard serves at GET /api/serve/applications/ (what `serve status` reads; this
    cluster runs no dashboard, so it is asked through the driver's Serve client). The target names
    the node's IP, but the replica listens on http_options.host, 127.0.0.1 here."""
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
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} was not ready within {timeout_s:g} s")
        time.sleep(0.5)


class ServeCaller:
    """POST /v1/predict (or /v1/predict/batch); the answer is checked (status, target, every requested head), and its
    timings_ms kept so a cell can say where the time went."""

    def __init__(self, url: str):
        self.catalog = Catalog.from_heads_response(httpx.get(f"{url}/v1/heads", timeout=10).json())
        self.client = httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=64))
        self.timings: list[dict[str, Any]] = []

    async def __call__(self, request: dict[str, Any]) -> list[str]:
        """`request`: a /v1/predict body, or {"items": [...]} for /v1/predict/batch (each result checked)."""
        batch = "items" in request
        response = await self.client.post("/v1/predict/batch" if batch else "/v1/predict", json=request)
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        if batch:
            return check_batch(response.status_code, body, request["items"], self.catalog)
        if response.status_code == 200 and isinstance(body, dict) and "timings_ms" in body:
            self.timings.append(body["timings_ms"])
        return check_predict(response.status_code, body, request, self.catalog)

    def breakdown(self) -> dict[str, float]:
        """Means over the answers since the last call: router total, backbone call, the forward
        pass, the slowest head replica call, and inputs per backbone pass."""
        timed, self.timings = self.timings, []
        if not timed:
            return {}
        return {
            "router_total_ms": statistics.mean(t["total"] for t in timed),
            "backbone_call_ms": statistics.mean(t["backbone"] for t in timed),
            "backbone_forward_ms": statistics.mean(t["backbone_forward"] for t in timed),
            "slowest_head_call_ms": statistics.mean(max(t["heads"].values(), default=0.0) for t in timed),
            "backbone_batch_inputs": statistics.mean(t["backbone_batch_inputs"] for t in timed),
        }
