"""The README's main command, `python -m service.demo`, from a stopped state, three times in a row:
each run starts the demo's own Ray cluster, deploys the tiny checkpoint, and must get its three
sample answers at the first try (no 503 in the moments after /health/ready), `serve status` and
`serve config` answer on that cluster, and `--stop` leaves none of its processes (tests/unit/service/test_demo.py: and no one else's)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.serving import free_port
from service.demo.cluster import LocalCluster

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RUNS = 3


def demo(*args: str, timeout_s: float = 420) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.demo", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout_s)


def test_the_demo_starts_answers_and_stops_three_times_in_a_row(tmp_path):
    from training.testing import make_random_checkpoint

    checkpoint = tmp_path / "tiny"
    make_random_checkpoint(checkpoint, seed=0)
    state = tmp_path / "state"
    ports = ["--port", str(free_port()), "--dashboard-port", str(free_port()), "--metrics-port", str(free_port())]
    common = ["--state-dir", str(state)]
    for run in range(1, RUNS + 1):
        started = demo("--checkpoint", str(checkpoint), "--timeout", "300", *ports, *common)
        print(f"\n===== demo run {run} of {RUNS} (exit {started.returncode}) =====\n{started.stdout}")
        cluster = LocalCluster.load(state / "cluster.json")
        try:
            assert started.returncode == 0, started.stderr[-3000:]
            assert "started the demo's own Ray cluster" in started.stdout  # from a stopped state, not reused
            answers = [line for line in started.stdout.splitlines() if line.startswith("target ")]
            assert len(answers) == 3, started.stdout
            assert cluster is not None and cluster.running()
            if run == 1:
                address = ["--address", cluster.dashboard_url]
                status = subprocess.run([str(BIN / "serve"), "status", *address], capture_output=True, text=True, timeout=120)
                print(status.stdout)
                assert status.returncode == 0, status.stderr[-2000:]
                assert "wiyh:" in status.stdout and "status: RUNNING" in status.stdout
                config = subprocess.run([str(BIN / "serve"), "config", *address], capture_output=True, text=True, timeout=120)
                assert config.returncode == 0 and "import_path: service.deploy.app:build_app" in config.stdout, config.stderr[-2000:]
        finally:
            stopped = demo("--stop", *common, timeout_s=120)
        print(stopped.stdout)
        assert stopped.returncode == 0, stopped.stderr
        assert cluster is not None and not cluster.running() and cluster.processes() == []
