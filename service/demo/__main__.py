"""Start the service in the background and show what every head says about one input per setting.

    python -m service.demo            # serves checkpoints/quick on 127.0.0.1:8000, sends samples
    python -m service.demo --stop     # stops it (`ray stop`)

Idempotent: when the service already answers with this checkpoint it is reused; with another
checkpoint it is redeployed in place. Ray runs as a local cluster (`ray start --head`) and the app
is deployed to it with `serve run --non-blocking`, so this command returns while the service
keeps running.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from service.settings import CHECKPOINT_ENV

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STATE = ROOT / "runs" / "service"
# One sample per setting of the paper: the task whose target head answers it, and a title.
SETTINGS = [
    ("numeric", "drop_number", "numerical reasoning (MSEGenBERT, DROP-like)"),
    ("multihop", "hotpot_yesno", "multi-hop yes/no (READER, HotpotQA-like)"),
    ("qa_summary", "squad", "QA next to a summariser (READERSUM, SQuAD-like)"),
]


class DemoError(RuntimeError):
    """Something the user can fix; the message says how."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path(os.environ.get(CHECKPOINT_ENV) or ROOT / "checkpoints" / "quick"),
                        help=f"default: ${CHECKPOINT_ENV}, else checkpoints/quick")
    parser.add_argument("--config", type=Path, default=ROOT / "deploy" / "serve_config.yaml")
    parser.add_argument("--metrics-port", type=int, default=8080, help="Ray's Prometheus endpoint (deploy/prometheus.yml)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the service to be ready")
    parser.add_argument("--stop", action="store_true", help="stop the service and the local Ray cluster")
    args = parser.parse_args(argv)
    try:
        if args.stop:
            return stop()
        url = start(args.checkpoint.resolve(), args.config, args.metrics_port, args.timeout)
        show_samples(url, args.checkpoint.resolve())
        print_next_steps(url, args.metrics_port)
        return 0
    except DemoError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def start(checkpoint: Path, config_path: Path, metrics_port: int, timeout_s: float) -> str:
    from model.checkpoint import CheckpointError, read_manifest

    try:
        manifest = read_manifest(checkpoint)
    except CheckpointError as err:
        raise DemoError(f"{err}\ntrain it first: python -m training train --preset quick --out {checkpoint}") from None
    config = yaml.safe_load(config_path.read_text())
    http = config.get("http_options", {})
    url = f"http://{http.get('host', '127.0.0.1')}:{http.get('port', 8000)}"

    running = running_checkpoint(url)
    if running == manifest.checkpoint_hash:
        print(f"the service is already running at {url} with {manifest.name} ({running}); reusing it")
        return url
    if running is not None:
        print(f"the service at {url} serves another checkpoint ({running}); redeploying {manifest.name}")

    ensure_ray(metrics_port)
    # The cluster resolves relative paths against the directory Ray started in; pin the
    # checkpoint to an absolute path in a copy of the config instead.
    config["applications"][0].setdefault("args", {})["checkpoint"] = str(checkpoint)
    STATE.mkdir(parents=True, exist_ok=True)
    resolved = STATE / "serve_config.yaml"
    resolved.write_text(f"# written by `python -m service.demo` from {config_path}\n" + yaml.safe_dump(config, sort_keys=False))
    print(f"deploying {manifest.name} from {checkpoint} ({config_path.relative_to(ROOT) if config_path.is_relative_to(ROOT) else config_path})")
    run([str(BIN / "serve"), "run", "--address=auto", "--non-blocking", str(resolved)], "serve run")
    wait_ready(url, manifest.checkpoint_hash, timeout_s)
    return url


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
        raise DemoError(f"something else answers at {url}; stop it or change http_options.port in the config") from None


def ensure_ray(metrics_port: int) -> None:
    # `ray start` itself is the reliable test for a running cluster (`ray status` needs the
    # dashboard); the one it refuses to start next to is the one `serve run --address=auto` uses.
    done = subprocess.run([str(BIN / "ray"), "start", "--head", "--include-dashboard=false",
                           f"--metrics-export-port={metrics_port}", "--disable-usage-stats"],
                          cwd=ROOT, capture_output=True, text=True, env=cluster_env())
    if done.returncode == 0:
        print(f"started a local Ray cluster (metrics on 127.0.0.1:{metrics_port})")
    elif "already running" in done.stdout + done.stderr:
        print("using the local Ray cluster that is already running")
    else:
        raise DemoError(f"`ray start` failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}")


def cluster_env() -> dict[str, str]:
    """Our environment minus $WIYH_CHECKPOINT: Ray's processes inherit it and it would override
    the absolute path the resolved config carries with a path relative to who knows where."""
    return {k: v for k, v in os.environ.items() if k != CHECKPOINT_ENV}


def run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=cluster_env())
    if done.returncode != 0:
        raise DemoError(f"`{what}` failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}")


def wait_ready(url: str, checkpoint_hash: str, timeout_s: float) -> None:
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
    raise DemoError(f"the service was not ready after {timeout_s:.0f} s (last answer: {last}); "
                    "replica logs are in /tmp/ray/session_latest/logs/serve/")


def show_samples(url: str, checkpoint: Path) -> None:
    from model.checkpoint import read_manifest
    from training.data.synthetic import generate

    tasks = read_manifest(checkpoint).tasks
    with httpx.Client(base_url=url, timeout=60) as client:
        for setting, task, title in SETTINGS:
            if task not in tasks:
                continue
            example = generate(setting, 20, seed=5)
            example = next((e for e in example if e.task == task), example[0])
            body = {"task": example.task, "inputs": {"question": example.question, "context": example.context}}
            r = client.post("/v1/predict", json=body)
            if r.status_code != 200:
                raise DemoError(f"the sample request for {task} got {r.status_code}: {r.text[:500]}")
            print_answer(title, body, r.json(), example.answer)


def print_answer(title: str, request: dict, answer: dict, reference: str) -> None:
    print(f"\n── {title} · task {request['task']} " + "─" * max(0, 60 - len(title) - len(request["task"])))
    print(f"question:  {request['inputs']['question']}")
    print(textwrap.fill(request["inputs"]["context"], width=100, initial_indent="context:   ", subsequent_indent="           ",
                        max_lines=4, placeholder=" …"))
    target = answer["target"]
    print(f"target     {target['head']:<12} {describe(target['kind'], target['output'])}   (reference answer: {reference!r})")
    print("non-target")
    for out in answer["non_target"]:
        print(f"           {out['head']:<12} {describe(out['kind'], out['output'])}")
    for err in answer["errors"]:
        print(f"           {err['head']:<12} did not answer: {err['kind']}: {err['message']}")
    if answer.get("explanation"):
        print(f"explanation: {describe_explanation(answer['explanation'])}")
    t = answer["timings_ms"]
    print(f"({answer['input']['windows']} window(s); {t['total']:.0f} ms in the service, backbone pass {t['backbone_forward']:.0f} ms)")


def describe_explanation(explanation: dict[str, Any]) -> str:
    spans = ", ".join(f"{a['text']!r} ({a['head']})" for a in explanation["arguments"][:4]) or "no spans"
    if explanation["kind"] == "arithmetic" and explanation.get("consistent"):
        return f"{explanation['expression']} from {spans}"
    if explanation["kind"] == "arithmetic":
        return f"no derivation: {explanation['message']}"
    return f"evidence {spans}"


def describe(kind: str, output: dict[str, Any]) -> str:
    if kind == "span":
        return f"{short(output['text'])} [{output['field']} {output['start']}:{output['end']}] score {output['score']:.2f}"
    if kind == "tagging":
        spans = output["spans"]
        if not spans:
            return "no spans"
        shown = ", ".join(short(s["text"], 30) for s in spans[:5])
        return f"{len(spans)} span(s): {shown}{' …' if len(spans) > 5 else ''}"
    if kind == "classification":
        return f"{output['label']} ({output['score']:.2f})"
    if kind == "generative":
        return f"{short(output['text'])} ({output['num_tokens']} tokens)"
    return json.dumps(output)[:100]


def short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def print_next_steps(url: str, metrics_port: int) -> None:
    sample = json.dumps({"task": "squad", "inputs": {"question": "Who founded the choir?",
                                                    "context": "The Lighthouse Choir was founded by Omar Roberts in 1920."}})
    print(f"""
The service keeps running at {url}
  inspect:  {url}/inspect    (the inspector: every head's reading of an input, spans marked, in a browser)
  try it:   curl -s {url}/v1/predict -H 'content-type: application/json' -d '{sample}'
  heads:    curl -s {url}/v1/heads
  API docs: {url}/docs        metrics: http://127.0.0.1:{metrics_port}/metrics
  stop it:  python -m service.demo --stop      (or: ray stop)""")


def stop() -> int:
    done = subprocess.run([str(BIN / "ray"), "stop"], cwd=ROOT, capture_output=True, text=True)
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "nothing to stop")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
