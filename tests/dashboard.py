"""The Grafana dashboard's PromQL queries (deploy/grafana/dashboard.json) and the metric names each
one reads, for the unit test of the file and the integration test that checks the names against what
a real Prometheus scrapes from the app."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboard.json"

# Parts of a PromQL expression that hold no metric name: strings, label matchers, range and subquery
# brackets, and the label lists of by / without / on / ignoring / group_left / group_right.
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_LABEL_VALUES = re.compile(r"\blabel_values\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)")
_IDENTIFIER = re.compile(r"(?<![\w$:.])[a-zA-Z_:][a-zA-Z0-9_:]*(?![\w:])")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right",
             "inf", "nan", "Inf", "NaN"}


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> list[str]:
    """Each target's `expr` and each query variable's query, as Grafana sends them to Prometheus."""
    found = [t["expr"] for p in panels(dashboard) for t in p.get("targets", []) if t.get("expr")]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable.get("query")
            found.append(query["query"] if isinstance(query, dict) else query)
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: every identifier that is neither a function (followed
    by a parenthesis), a keyword, a label (inside {...} or a by (...) list) nor a Grafana variable."""
    names = set(_LABEL_VALUES.findall(expr))
    rest = _LABEL_VALUES.sub(" ", expr)
    for pattern in (_STRINGS, _MATCHERS, _RANGES, _LABEL_LISTS):
        rest = pattern.sub(" ", rest)
    for match in _IDENTIFIER.finditer(rest):
        name = match.group(0)
        if rest[match.end():].lstrip().startswith("(") or name in _KEYWORDS:
            continue
        names.add(name)
    return names


def as_prometheus_query(expr: str) -> str:
    """An expression with Grafana's variables replaced, so that Prometheus itself can run it."""
    return (expr.replace("$__rate_interval", "1m").replace("${__rate_interval}", "1m")
            .replace('=~"$head"', '=~".*"'))
