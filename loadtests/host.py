"""Where a mode's CPU goes, read from outside the serving code (docs/service.md, Host cost per
request): each process's CPU seconds so far, by its part of the serving path, taken before and
after each measured cell; per request, less what each process spends with no request at all."""
from __future__ import annotations

import psutil

from loadtests.processes import cpu_by_role

# {process role: CPU seconds so far}
Reading = dict[str, float]
TOTAL = "total"
WITH_BACKGROUND = "total with background"


def in_process() -> Reading:
    t = psutil.Process().cpu_times()
    return {"benchmark process": t.user + t.system}


def serve(app: str) -> Reading:
    """Every replica of `app` and Serve's and Ray's own processes; the load generator is not the mode's."""
    return {role: seconds for role, seconds in cpu_by_role(app).items() if role != "client"}


def idle_rates(before: Reading, after: Reading, seconds: float) -> dict[str, float]:
    """CPU seconds per second each process spends with no request to serve (Serve's controller
    polling, metrics pushes, health checks: a canned input through the model every few seconds),
    from two readings `seconds` apart."""
    return {role: max(0.0, end - before.get(role, end)) / max(seconds, 1e-9) for role, end in after.items()}


def per_request(before: Reading, after: Reading, requests: int, idle: dict[str, float] | None = None,
                seconds: float = 0.0) -> dict[str, float]:
    """CPU ms per request by process between two readings, less each process's `idle` rate over
    the `seconds` between them (so a slow cell does not bill its long wall time's background to
    its few requests); TOTAL sums them, WITH_BACKGROUND is the sum with the background left in."""
    requests = max(requests, 1)
    spent = {role: end - before.get(role, end) for role, end in after.items()}
    out = {role: (used - (idle or {}).get(role, 0.0) * seconds) * 1000 / requests for role, used in spent.items()}
    out[TOTAL] = sum(out.values())
    out[WITH_BACKGROUND] = sum(spent.values()) * 1000 / requests
    return out
