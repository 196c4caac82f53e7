"""When is the service whole again after a fault: the moment every check passes at once.

    /health/ready answers 200;
    every deployment is HEALTHY with as many RUNNING replicas as before the fault, and the ALIVE
    replica actors are new ones (none of the killed);
    a request asking every head gets a 200 that is not degraded.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from loadtests.faults.replicas import serve_whole


async def probe_answer(client: httpx.AsyncClient, body: dict[str, Any]) -> bool:
    try:
        r = await client.post("/v1/predict", json=body)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and not r.json().get("degraded")


async def is_whole(client: httpx.AsyncClient, app: str, expected: dict[str, int], dead: set[str],
                   probes: list[dict[str, Any]]) -> bool:
    try:
        if (await client.get("/health/ready")).status_code != 200:
            return False
    except httpx.HTTPError:
        return False
    if not await asyncio.to_thread(serve_whole, app, expected, dead):
        return False
    # every target head once: a stage may be back for some calls and not others
    answers = await asyncio.gather(*(probe_answer(client, b) for b in probes))
    return all(answers)


async def time_to_recover(url: str, app: str, expected: dict[str, int], dead: set[str], probes: list[dict[str, Any]],
                          since: float, deadline_s: float, every_s: float = 0.5) -> float | None:
    """Seconds from `since` (a time.monotonic()) until the service is whole; None past the deadline."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while time.monotonic() - since < deadline_s:
            if await is_whole(client, app, expected, dead, probes):
                return round(time.monotonic() - since, 2)
            await asyncio.sleep(every_s)
    return None
