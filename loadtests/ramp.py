"""The autoscaling run's locust load shape: PredictUser following the stages of $WIYH_RAMP
(`python -m loadtests.autoscale` runs it)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from locust import LoadTestShape

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadtests.traffic import DEFAULT_RAMP, parse_stages, users_at  # noqa: E402
from loadtests.locustfile import PredictUser  # noqa: E402,F401  (the user class this shape drives)


class Ramp(LoadTestShape):
    stages = parse_stages(os.environ.get("WIYH_RAMP", DEFAULT_RAMP))

    def tick(self) -> tuple[int, float] | None:
        users = users_at(self.stages, self.get_run_time())
        return None if users is None else (users, 8.0)
