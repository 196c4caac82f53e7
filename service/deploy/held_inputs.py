"""The backbone replica keeps its own reference to every input it stores until no head of the
request can still read it.

Why the backbone has to: it owns the hidden states it `ray.put()`s (in Ray the creating process
owns an object) and returns their ObjectRef inside its answer. Serve sends every answer back as
an item of a streaming generator (`handle_request_with_rejection`), and Ray's reference counting
of an ObjectRef nested in a streaming-generator item loses the caller's borrow now and then
(ray-project/ray issue 58080, fix proposed in PR 58082, not in Ray 2.60). The owner then counts
no reference once its own Python reference dies, right after the answer is sent, and frees the
object while the router is still handing it to the heads: their read raises
ReferenceCountingAssertionError and the answer was a 503 "input was lost" with every replica
alive (docs/results.md, "Lost inputs"; reproduced there without this project's code, with a bare
producer/consumer pair of actors).

The owner's own reference makes the lost borrow harmless, and holding it for as long as the
request can still use the input is a bound the service already states: the router waits at most
`backbone_s` for the answer and then at most the longest head timeout for the heads (a retry of
the target shares that budget). After that nothing reads the input; it is released, and Ray's
ordinary counting (the heads' borrows, when they were registered) decides from there. Ray also
releases everything a replica held when the replica dies, so a dead backbone still loses its
inputs and the router still answers 503 "input was lost" for them, as it should.

Cost: the object store holds every input for `hold_s` after it was stored, i.e. about
requests/s x hold_s x bytes per input (docs/results.md gives the figures).
"""
from __future__ import annotations

import time
from collections import deque
from typing import Any, Callable

from service.deploy.settings import Timeouts


def hold_for(timeouts: Timeouts) -> float:
    """The longest a request can still use its stored input, counted from the moment it is stored."""
    return timeouts.backbone_s + max(timeouts.target_head_s, timeouts.non_target_head_s)


class HeldInputs:
    """References kept alive until their deadline; released oldest first on every `hold()` and
    `release_expired()` (the replica's health check calls it, so an idle replica lets go too)."""

    def __init__(self, hold_s: float, clock: Callable[[], float] = time.monotonic):
        if hold_s <= 0:
            raise ValueError(f"hold_s must be positive, got {hold_s}")
        self.hold_s, self._clock = hold_s, clock
        # One hold time for all, so deadlines arrive in the order of the deque.
        self._held: deque[tuple[float, Any]] = deque()

    def hold(self, ref: Any) -> None:
        now = self._clock()
        self.release_expired(now)
        self._held.append((now + self.hold_s, ref))

    def release_expired(self, now: float | None = None) -> int:
        """Drop every reference whose deadline has passed; returns how many were dropped."""
        now = self._clock() if now is None else now
        dropped = 0
        while self._held and self._held[0][0] <= now:
            self._held.popleft()
            dropped += 1
        return dropped

    def __len__(self) -> int:
        return len(self._held)
