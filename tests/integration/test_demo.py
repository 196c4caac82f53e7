"""The README's main command, `python -m service.demo`, as a user runs it: from a stopped state it
starts the demo's own Ray cluster, deploys the tiny checkpoint and gets its three sample answers at
the first try (no 503 in the moments after /health/ready); `serve status` and `serve config` answer
on that cluster; run again while it serves, it reuses it (no second cluster, no redeploy); `--stop`
leaves none of its processes (tests/unit/service/test_demo.py: and no one else's); and after a stop
it starts from a stopped state again, on the same ports.

Two cold starts, not three: each costs a Ray head node, the dashboard and the replicas (about a
minute on 2 cores), and a third showed nothing the second does not."""
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


def demo(*args: str, timeout_s: float = 420) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.demo", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout_s)


def sample_answers(run: subprocess.CompletedProcess) -> list[str]:
    return [line for line in run.stdout.splitlines() if line.startswith("target ")]


def serve_cli(command: str, cluster: LocalCluster) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "serve"), command, "--address", cluster.dashboard_url], capture_output=True,
                          text=True, timeout=120)


def test_the_demo_starts_answers_is_reused_stops_and_starts_again(tmp_path):
    from training.testing import make_random_checkpoint

    checkpoint = tmp_path / "tiny"
    make_random_checkpoint(checkpoint, seed=0)
    state = tmp_path / "state"
    ports = ["--port", str(free_port()), "--dashboard-port", str(free_port()), "--metrics-port", str(free_port())]
    start = ["--checkpoint", str(checkpoint), "--timeout", "300", *ports, "--state-dir", str(state)]
    for cold_start in (1, 2):
        started = demo(*start)
        print(f"\n===== cold start {cold_start} (exit {started.returncode}) =====\n{started.stdout}")
        cluster = LocalCluster.load(state / "cluster.json")
        try:
            assert started.returncode == 0, started.stderr[-3000:]
            assert "started the demo's own Ray cluster" in started.stdout  # from a stopped state, not reused
            assert len(sample_answers(started)) == 3, started.stdout
            assert cluster is not None and cluster.running()
            if cold_start == 1:
                status = serve_cli("status", cluster)
                print(status.stdout)
                assert status.returncode == 0, status.stderr[-2000:]
                assert "wiyh:" in status.stdout and "status: RUNNING" in status.stdout
                config = serve_cli("config", cluster)
                assert config.returncode == 0 and "import_path: service.deploy.app:build_app" in config.stdout, \
                    config.stderr[-2000:]

                again = demo(*start)
                print(f"\n===== again, while it serves (exit {again.returncode}) =====\n{again.stdout}")
                assert again.returncode == 0, again.stderr[-3000:]
                assert "already serves tiny-random" in again.stdout and "reusing it" in again.stdout
                assert "started the demo's own Ray cluster" not in again.stdout and "deploying tiny-random from" not in again.stdout
                assert LocalCluster.load(state / "cluster.json") == cluster
                assert len(sample_answers(again)) == 3, again.stdout
        finally:
            stopped = demo("--stop", "--state-dir", str(state), timeout_s=120)
        print(stopped.stdout)
        assert stopped.returncode == 0, stopped.stderr
        assert cluster is not None and not cluster.running() and cluster.processes() == []
