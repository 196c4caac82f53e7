"""One more try for a stage call whose replica died, within the time the first call left.

Why once, and why only `unavailable`: a replica that died mid-call (SIGKILL, OOM, a lost node)
says nothing about the request, and Serve's handle drops the dead replica at once, so a second
call goes to another replica, or waits for Ray to start a new one. The backbone and the heads are
pure functions of their input, so running one twice costs time and nothing else. A timeout, a
full queue or an exception the model raised would most likely happen again, and a second try
would only double the load that caused it: those are never retried.
"""
from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable, TypeVar

from service.pipeline.failures import InputLost, StageError

log = logging.getLogger("wiyh.service")

T = TypeVar("T")

# Below this, a second call could not even reach a replica: give the first error instead.
MIN_RETRY_S = 0.1


def retryable(err: StageError) -> bool:
    return err.kind == "unavailable" and not isinstance(err, InputLost)


async def with_one_retry(call: Callable[[float], Awaitable[T]], timeout_s: float, request_id: str) -> T:
    """`call(timeout_s)`; when its replica was unavailable, `call(what is left of timeout_s)` once.

    A retry that runs out of time is reported as `unavailable` (503 + Retry-After), not as a
    timeout: the stage lost its replica, and waiting for the replacement is what took the time."""
    started = time.monotonic()
    try:
        return await call(timeout_s)
    except StageError as err:
        left = timeout_s - (time.monotonic() - started)
        if not retryable(err) or left < MIN_RETRY_S:
            raise
        log.warning("request %s: %s; calling it once more (%.2f s left)", request_id, err, left)
        try:
            return await call(left)
        except StageError as again:
            if again.kind == "timeout":
                raise StageError(err.stage, "unavailable", f"its replica was lost and none answered within the "
                                 f"remaining {left:.1f} s", err.retry_after_s) from None
            raise
