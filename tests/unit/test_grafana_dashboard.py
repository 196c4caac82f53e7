"""deploy/grafana/dashboard.json is a Grafana dashboard whose every query reads metrics the service
defines (service/deploy/metrics.py), under the names Ray exports them with. That a real Prometheus
scrapes each of those names from the running app: tests/integration/test_prometheus.py."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.dashboard import as_prometheus_query, load, metric_names, panels, queries

ROOT = Path(__file__).resolve().parents[2]
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def defined_metrics() -> dict[str, str]:
    """{exported name: Counter | Histogram} as service/deploy/metrics.py creates them (Ray adds `ray_`)."""
    source = (ROOT / "service" / "deploy" / "metrics.py").read_text()
    found = {f"ray_{name}": kind for kind, name in re.findall(r"\b(Counter|Histogram)\(\s*\"(\w+)\"", source)}
    assert found, "no Counter( or Histogram( with a name found in service/deploy/metrics.py"
    return found


def exported_series() -> set[str]:
    series = set()
    for name, kind in defined_metrics().items():
        series |= {name + s for s in HISTOGRAM_SERIES} if kind == "Histogram" else {name}
    return series


def test_the_file_is_a_dashboard_of_time_series_panels_with_queries():
    dashboard = load()
    assert dashboard["title"] and dashboard["uid"] and isinstance(dashboard["schemaVersion"], int)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    graphs = [p for p in panels(dashboard) if p["type"] != "row"]
    assert len(graphs) >= 8
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in graphs:
        assert panel["title"] and panel["targets"], f"panel {panel.get('title')!r} has no targets"
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), f"{panel['title']}: refIds repeat"
        for target in panel["targets"]:
            assert target["expr"].strip() and target["expr"].count("(") == target["expr"].count(")"), panel["title"]
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, panel["title"]


def test_no_two_panels_overlap():
    boxes = [(p["title"], p["gridPos"]) for p in panels(load())]
    for i, (a, pa) in enumerate(boxes):
        for b, pb in boxes[i + 1:]:
            apart = (pa["x"] + pa["w"] <= pb["x"] or pb["x"] + pb["w"] <= pa["x"]
                     or pa["y"] + pa["h"] <= pb["y"] or pb["y"] + pb["h"] <= pa["y"])
            assert apart, f"panels {a!r} and {b!r} overlap"


@pytest.mark.parametrize("expr", queries(load()))
def test_every_query_reads_only_metrics_the_service_exports(expr):
    names = metric_names(expr)
    assert names, f"no metric name found in {expr!r}"
    unknown = names - exported_series()
    assert not unknown, f"{expr!r} reads {sorted(unknown)}, which service/deploy/metrics.py does not export"


def test_the_dashboard_shows_per_head_latency_outcomes_degraded_answers_and_batch_sizes():
    read = set().union(*(metric_names(q) for q in queries(load())))
    for needed in ("ray_wiyh_head_latency_ms_bucket", "ray_wiyh_head_requests_total",
                   "ray_wiyh_degraded_answers_total", "ray_wiyh_batch_size_bucket", "ray_wiyh_errors_total"):
        assert needed in read, f"no panel reads {needed}"
    families = read | {n.removesuffix(s) for n in read for s in HISTOGRAM_SERIES if n.endswith(s)}
    missing = set(defined_metrics()) - families
    assert not missing, f"metrics the service defines that no panel shows: {sorted(missing)}"


@pytest.mark.parametrize("expr, names", [
    ('histogram_quantile(0.99, sum by (le, head) (rate(ray_wiyh_head_latency_ms_bucket{head=~"$head"}[$__rate_interval])))',
     {"ray_wiyh_head_latency_ms_bucket"}),
    ('sum by (head) (rate(a_total{outcome!="ok"}[5m])) / sum by (head) (rate(a_total[5m]))', {"a_total"}),
    ("label_values(ray_wiyh_head_requests_total, head)", {"ray_wiyh_head_requests_total"}),
    ("up offset 5m or on(job) vector(1)", {"up"}),
])
def test_metric_names_are_read_out_of_promql(expr, names):
    assert metric_names(expr) == names


def test_grafana_variables_are_replaced_for_prometheus():
    for expr in queries(load()):
        assert "$" not in as_prometheus_query(expr), expr
