"""The autoscaling run's locust load shape: PredictUser following stages of (users, seconds) from
$WIYH_RAMP (`python -m loadtests.autoscale` runs it; loadtests/stages.py holds the default)."""
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
