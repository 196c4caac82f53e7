"""A real Prometheus server, run with deploy/prometheus.yml, scrapes the service's metrics, among
them every metric the Grafana dashboard (deploy/grafana/dashboard.json) reads.

Needs the Debian package `prometheus` (apt-get install -y prometheus). Without it the test is
skipped, saying so; with WIYH_REQUIRE_PROMETHEUS=1 (set it in CI after installing) a missing
server fails the test instead.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

import httpx
import pytest
import yaml

from loadtests.serving import free_port
from tests import dashboard
from tests.integration.conftest import FAIL, ROOT, wait_for

pytestmark = pytest.mark.integration


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("WIYH_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(f"{name} is not installed but WIYH_REQUIRE_PROMETHEUS=1: apt-get install -y prometheus")
        pytest.skip(f"{name} is not installed (apt-get install -y prometheus to run this test)")
    return path


def test_the_deploy_scrape_config_is_valid():
    promtool = _binary("promtool")
    done = subprocess.run([promtool, "check", "config", str(ROOT / "deploy" / "prometheus.yml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@dataclass
class Prometheus:
    api: str
    metrics_port: str

    def query(self, expr: str):
        return httpx.get(f"{self.api}/query", params={"query": expr}, timeout=5).json()["data"]["result"] or None

    def names(self) -> set[str]:
        return set(httpx.get(f"{self.api}/label/__name__/values", timeout=5).json()["data"])


@pytest.fixture(scope="module")
def prometheus(service, tmp_path_factory):
    """A Prometheus server run with deploy/prometheus.yml as shipped, pointed at the test cluster's
    metrics port and scraping every second."""
    binary = _binary("prometheus")
    tmp_path = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "ray"]
    metrics_port = service.metrics_url.split(":")[-1].split("/")[0]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{metrics_port}"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    server = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=2).status_code == 200, 30, "Prometheus to start")

        def target_up():
            targets = httpx.get(f"{api}/targets", timeout=5).json()["data"]["activeTargets"]
            return any(t["scrapeUrl"].endswith(f":{metrics_port}/metrics") and t["health"] == "up" for t in targets)

        wait_for(target_up, 30, "Prometheus to scrape the service's metrics endpoint")
        yield Prometheus(api=api, metrics_port=metrics_port)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_a_prometheus_server_scrapes_our_metrics_and_serves_queries(service, prometheus):
    with service.client() as client:  # something to count
        assert client.post("/v1/predict", json={"task": "squad", "inputs": {"question": "Who?", "context": "Ann wrote it."}}).status_code == 200
    passes = wait_for(lambda: prometheus.query('sum(ray_wiyh_forward_passes_total{stage="backbone"})'), 30, "our counter in Prometheus")
    assert float(passes[0]["value"][1]) >= 1
    heads = wait_for(lambda: prometheus.query("sum by (head) (ray_wiyh_head_requests_total)"), 30, "per-head counts")
    assert {r["metric"]["head"] for r in heads} >= {"span", "number", "summary"}
    assert wait_for(lambda: prometheus.query("sum(ray_serve_num_http_requests_total)"), 30, "Serve's built-in HTTP counter")


def test_every_metric_the_grafana_dashboard_reads_is_scraped(service, prometheus):
    context = "Ann wrote it in 1990."
    with service.client() as client:
        # an answer, a degraded answer (the multispan replica fails on its trigger word) and a refused request
        assert client.post("/v1/predict", json={"task": "squad", "inputs": {"question": "Who?", "context": context}}).status_code == 200
        degraded = client.post("/v1/predict", json={"task": "squad", "inputs": {"question": f"{FAIL} Who?", "context": context}})
        assert degraded.status_code == 200 and degraded.json()["degraded"] is True, degraded.text
        assert client.post("/v1/predict", json={"task": "squad"}).status_code == 422
    exprs = dashboard.queries(dashboard.load())
    wanted = set().union(*(dashboard.metric_names(e) for e in exprs))
    assert wanted, "the dashboard reads no metric"
    try:
        wait_for(lambda: wanted <= prometheus.names(), 30, "every metric the dashboard reads in Prometheus")
    except AssertionError:
        missing = sorted(wanted - prometheus.names())
        raise AssertionError(f"the dashboard reads metrics Prometheus never scraped from the app: {missing}") from None
    for expr in exprs:  # each query, its Grafana variables filled in, is valid PromQL to this Prometheus
        if expr.startswith("label_values("):
            continue
        reply = httpx.get(f"{prometheus.api}/query", params={"query": dashboard.as_prometheus_query(expr)}, timeout=5).json()
        assert reply["status"] == "success", f"{expr}: {reply}"
