"""Flooding an application past its slots, shared by the overload tests of each application."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

Answer = tuple[int, "str | None", float]  # status, Retry-After, seconds until the answer


def flood(url: str, body: dict[str, Any], count: int, timeout: float) -> list[Answer]:
    """`count` copies of `body` posted to `url`/v1/predict at once; each one's answer."""

    def send(_: int) -> Answer:
        started = time.monotonic()
        r = httpx.post(f"{url}/v1/predict", json=body, timeout=timeout)
        return r.status_code, r.headers.get("retry-after"), time.monotonic() - started

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(send, range(count)))


def median_seconds(answers: list[Answer]) -> float:
    """The median time to answer: one answer the proxy's event loop took late does not decide."""
    seconds = sorted(s for _, _, s in answers)
    return seconds[len(seconds) // 2]
