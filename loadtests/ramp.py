"""A locust load shape for the autoscaling run: PredictUser following stages of (users, seconds).

    WIYH_RAMP="1:15,16:75,1:60"  locust -f loadtests/ramp.py --headless --host URL ...

`python -m loadtests.autoscale` runs it; loadtests/stages.py holds the default ramp.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from locust import LoadTestShape

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadtests.locustfile import PredictUser  # noqa: E402,F401  (the user class this shape drives)
from loadtests.stages import DEFAULT_RAMP, parse_stages, users_at  # noqa: E402


class Ramp(LoadTestShape):
    stages = parse_stages(os.environ.get("WIYH_RAMP", DEFAULT_RAMP))

    def tick(self) -> tuple[int, float] | None:
        users = users_at(self.stages, self.get_run_time())
        return None if users is None else (users, 8.0)
