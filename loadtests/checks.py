"""What every load-test response must satisfy; a non-empty list of problems is a failure. A 200
carries the target head's output and every requested non-target head either answered or is listed
in `errors[]`: a degraded answer is a valid answer, a silently missing head is not."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Catalog(BaseModel):
    """What GET /v1/heads says: the heads in order and each task's target head."""

    heads: list[str]
    tasks: dict[str, str]
    max_batch_items: int = 16

    @classmethod
    def from_heads_response(cls, body: dict[str, Any]) -> "Catalog":
        return cls(heads=[h["name"] for h in body["heads"]], tasks=body["tasks"],
                   max_batch_items=body.get("limits", {}).get("max_batch_items", 16))

    def target_of(self, request: dict[str, Any]) -> str | None:
        return request.get("target_head") or self.tasks.get(request.get("task", ""))

    def expected_others(self, request: dict[str, Any]) -> set[str]:
        """The non-target heads the request asked for (all heads when `heads` is omitted)."""
        wanted = self.heads if request.get("heads") is None else request["heads"]
        return set(wanted) - {self.target_of(request)}


def check_item(item: Any, request: dict[str, Any], catalog: Catalog) -> list[str]:
    """Problems with one answered item (a /v1/predict body or one of /v1/predict/batch's results)."""
    if not isinstance(item, dict):
        return [f"the answer is a {type(item).__name__}, not a JSON object"]
    problems = []
    target = item.get("target")
    expected_target = catalog.target_of(request)
    if not isinstance(target, dict) or not isinstance(target.get("output"), dict):
        problems.append("no target output")
    elif expected_target is not None and target.get("head") != expected_target:
        problems.append(f"target head is {target.get('head')!r}, expected {expected_target!r}")
    answered = {o.get("head") for o in item.get("non_target") or [] if isinstance(o, dict) and isinstance(o.get("output"), dict)}
    reported = {e.get("head") for e in item.get("errors") or [] if isinstance(e, dict)}
    missing = catalog.expected_others(request) - answered - reported
    if missing:
        problems.append(f"heads neither answered nor listed in errors[]: {sorted(missing)}")
    return problems


def check_predict(status: int, body: Any, request: dict[str, Any], catalog: Catalog) -> list[str]:
    if status != 200:
        return [f"HTTP {status}: {_short(body)}"]
    return check_item(body, request, catalog)


def check_batch(status: int, body: Any, items: list[dict[str, Any]], catalog: Catalog) -> list[str]:
    if status != 200:
        return [f"HTTP {status}: {_short(body)}"]
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or len(results) != len(items):
        got = len(results) if isinstance(results, list) else "no"
        return [f"{got} results for {len(items)} items"]
    return [f"item {i}: {p}" for i, (result, item) in enumerate(zip(results, items)) for p in check_item(result, item, catalog)]


def body_of(response: Any) -> Any:
    """A response's JSON, or its text when it is not JSON (Serve's proxy answers 503 in plain text)."""
    try:
        return response.json()
    except Exception:  # httpx and locust raise different errors for a body that is not JSON
        return response.text


def _short(body: Any, limit: int = 200) -> str:
    text = body if isinstance(body, str) else str(body)
    return text[:limit]
