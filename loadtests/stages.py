"""The autoscaling ramp as data: stages of (users, seconds). Kept apart from ramp.py so that
reading it does not import locust (which monkey-patches the standard library with gevent)."""
from __future__ import annotations

# One user (warm), 16 users (past one backbone replica's capacity on 2 cores), then one user again
# while the extra replicas are removed, so a request failing during scale-down would show.
DEFAULT_RAMP = "1:15,16:75,1:60"


def parse_stages(text: str) -> list[tuple[int, float]]:
    """"users:seconds,..." -> [(users, seconds)]; a malformed stage names itself."""
    stages = []
    for part in text.split(","):
        try:
            users, seconds = part.split(":")
            stages.append((int(users), float(seconds)))
        except ValueError:
            raise ValueError(f"ramp stage {part!r} is not users:seconds (e.g. 16:60)") from None
        if stages[-1][0] < 0 or stages[-1][1] <= 0:
            raise ValueError(f"ramp stage {part!r}: users must be >= 0 and seconds > 0")
    return stages


def users_at(stages: list[tuple[int, float]], t: float) -> int | None:
    """Users wanted `t` seconds into the run; None once the stages are over."""
    end = 0.0
    for users, seconds in stages:
        end += seconds
        if t < end:
            return users
    return None
