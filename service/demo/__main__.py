"""Start the service on its own local Ray cluster and show what every head says about one input per
setting of the paper.

    python -m service.demo            # serves checkpoints/quick on 127.0.0.1:8000, sends samples
    python -m service.demo --stop     # stops this demo's cluster, and nothing else

Idempotent: when the demo's cluster already serves this checkpoint it is reused; with another
checkpoint it is redeployed in place. The cluster is the demo's own (cluster.py: its temp dir, its
ports, the dashboard on 127.0.0.1), so `serve status`, `serve config` and the dashboard answer on
it, and stopping it never touches another Ray on the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from service.demo.cluster import BIN, DEFAULT_DASHBOARD_PORT, ClusterError, LocalCluster, start_cluster, stop_cluster
from service.demo.samples import SampleFailed, show_samples
from service.deploy.serve_config import check as check_serve_config
from service.deploy.settings import CHECKPOINT_ENV

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE = ROOT / "runs" / "service"


class DemoError(RuntimeError):
    """Something the user can fix; the message says how."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path(os.environ.get(CHECKPOINT_ENV) or ROOT / "checkpoints" / "quick"),
                        help=f"default: ${CHECKPOINT_ENV}, else checkpoints/quick")
    parser.add_argument("--config", type=Path, default=ROOT / "deploy" / "serve_config.yaml")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: the config's http_options.port)")
    parser.add_argument("--dashboard-port", type=int, default=DEFAULT_DASHBOARD_PORT,
                        help="Ray dashboard on 127.0.0.1, what `serve status` asks (another free port when taken)")
    parser.add_argument("--metrics-port", type=int, default=8080, help="Ray's Prometheus endpoint (deploy/prometheus.yml)")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE, help="where the demo notes its cluster")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the service to be ready")
    parser.add_argument("--stop", action="store_true", help="stop this demo's cluster (no other Ray process)")
    args = parser.parse_args(argv)
    state_file = args.state_dir / "cluster.json"
    try:
        if args.stop:
            return stop(state_file)
        url, cluster = start(args.checkpoint.resolve(), args.config, args.port, args.dashboard_port, args.metrics_port,
                             state_file, args.timeout)
        show_samples(url, args.checkpoint.resolve())
        print_next_steps(url, cluster)
        return 0
    except (DemoError, ClusterError, SampleFailed) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def start(checkpoint: Path, config_path: Path, port: int | None, dashboard_port: int, metrics_port: int,
          state_file: Path, timeout_s: float) -> tuple[str, LocalCluster]:
    from model.checkpoint import CheckpointError, read_manifest

    try:
        manifest = read_manifest(checkpoint)
    except CheckpointError as err:
        raise DemoError(f"{err}\ntrain it first: python -m training train --preset quick --out {checkpoint}") from None
    config = yaml.safe_load(config_path.read_text())
    # Ray resolves relative paths against the directory it started in: pin the checkpoint to an
    # absolute path in a copy of the config.
    config["applications"][0].setdefault("args", {})["checkpoint"] = str(checkpoint)
    # Serve applies `deployments:` without showing it to build_app: check the file as it will run first.
    problems = check_serve_config(config)
    if problems:
        raise DemoError(f"{config_path} cannot be deployed:\n  " + "\n  ".join(problems))
    http = config.setdefault("http_options", {})
    if port is not None:
        http["port"] = port
    url = f"http://{http.get('host', '127.0.0.1')}:{http.get('port', 8000)}"

    cluster = LocalCluster.load(state_file)
    if cluster is not None and cluster.running():
        running = running_checkpoint(url)
        if running == manifest.checkpoint_hash:
            print(f"the demo's cluster already serves {manifest.name} ({running}) at {url}; reusing it")
            return url, cluster
        print(f"using the demo's Ray cluster that is already running (GCS {cluster.gcs_address})")
    else:
        if running_checkpoint(url) is not None:
            raise DemoError(f"a service not started by this demo answers at {url}; stop it, or pass --port")
        cluster = start_cluster(dashboard_port, metrics_port)
        cluster.save(state_file)
        print(f"started the demo's own Ray cluster (GCS {cluster.gcs_address}, dashboard {cluster.dashboard_url}, "
              f"temp dir {cluster.temp_dir})")

    resolved = state_file.parent / "serve_config.yaml"
    resolved.write_text(f"# written by `python -m service.demo` from {config_path}\n" + yaml.safe_dump(config, sort_keys=False))
    print(f"deploying {manifest.name} from {checkpoint}")
    cluster.wait_for_dashboard(timeout_s)
    # Through the dashboard's REST API, as in production (docs/service.md, Deploy): the
    # command returns once Serve has the config; wait_ready then waits for the replicas.
    run([str(BIN / "serve"), "deploy", "--address", cluster.dashboard_url, str(resolved)], "serve deploy", cluster)
    wait_ready(url, manifest.checkpoint_hash, timeout_s, cluster)
    return url, cluster


def running_checkpoint(url: str) -> str | None:
    """The hash of the checkpoint our service serves at `url`, None when nothing answers there."""
    try:
        r = httpx.get(f"{url}/v1/heads", timeout=3)
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    try:
        return r.json()["checkpoint"]["hash"]
    except (ValueError, KeyError):
        raise DemoError(f"something else answers at {url}; stop it or pass --port") from None


def run(cmd: list[str], what: str, cluster: LocalCluster) -> None:
    # $WIYH_CHECKPOINT stays out: Ray's processes would inherit it, and it would override the
    # absolute path the resolved config carries.
    env = {k: v for k, v in cluster.env().items() if k != CHECKPOINT_ENV}
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise DemoError(f"`{what}` failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}")


def wait_ready(url: str, checkpoint_hash: str, timeout_s: float, cluster: LocalCluster) -> None:
    """Until /health/ready says every stage answers and the checkpoint is the one deployed."""
    print(f"waiting for the service to be ready (up to {timeout_s:.0f} s)", end="", flush=True)
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"{url}/health/ready", timeout=5)
            if ready.status_code == 200 and running_checkpoint(url) == checkpoint_hash:
                print(" ready")
                return
            last = ready.text[:300]
        except httpx.HTTPError as err:
            last = repr(err)
        print(".", end="", flush=True)
        time.sleep(1)
    print()
    raise DemoError(f"the service was not ready after {timeout_s:.0f} s (last answer: {last}); replica logs are in "
                    f"{cluster.temp_dir}/session_latest/logs/serve/")


def serve_cli_address(cluster: LocalCluster) -> str:
    """What to add to `serve status` / `serve config`: nothing on the default dashboard port."""
    return "" if cluster.dashboard_port == DEFAULT_DASHBOARD_PORT else f" --address {cluster.dashboard_url}"


def print_next_steps(url: str, cluster: LocalCluster) -> None:
    sample = json.dumps({"task": "squad", "inputs": {"question": "Who founded the choir?",
                                                    "context": "The Lighthouse Choir was founded by Omar Roberts in 1920."}})
    address = serve_cli_address(cluster)
    print(f"""
The service keeps running at {url}
  inspect:   {url}/inspect    (the inspector: every head's reading of an input, spans marked, in a browser)
  try it:    curl -s {url}/v1/predict -H 'content-type: application/json' -d '{sample}'
  heads:     curl -s {url}/v1/heads
  API docs:  {url}/docs        metrics: http://127.0.0.1:{cluster.metrics_port}/metrics
  Serve:     {BIN}/serve status{address}    {BIN}/serve config{address}
  dashboard: {cluster.dashboard_url}
  stop it:   python -m service.demo --stop   (stops this demo's cluster only; `ray stop` would stop every Ray here)""")


def stop(state_file: Path) -> int:
    cluster = LocalCluster.load(state_file)
    if cluster is None:
        print(f"nothing to stop (no demo cluster noted in {state_file})")
        return 0
    stopped = stop_cluster(cluster)
    shutil.rmtree(cluster.temp_dir, ignore_errors=True)
    state_file.unlink(missing_ok=True)
    print(f"stopped the demo's Ray cluster ({stopped} processes, GCS {cluster.gcs_address})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
