"""The README's commands that talk to a running service, run as written against the shipped CPU
config (deploy/serve_config.yaml, what `make demo` serves) with the tiny checkpoint: every curl
request, and the locust load test (shortened to a few seconds, its reports in a temp folder), whose
every answer the locustfile checks."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from service.deploy.serve_config import file_args
from tests.integration.conftest import ROOT
from tests.readme import readme_commands, words_of

pytestmark = pytest.mark.integration

APP, PREFIX = "wiyh-readme", "/readme"
README_HOST = "http://127.0.0.1:8000"
# Locust's run-time clock starts before its users do; on a busy 2-core machine they have been seen
# to start 7 s late, leaving a 1 s run whose stats file held no request. 20 s leaves most of the
# run after the slowest start seen.
LOCUST_SECONDS = "20s"


@pytest.fixture(scope="module")
def shipped(service):
    """The shipped CPU config's application, one replica a stage, on the package's cluster."""
    from ray import serve

    from loadtests.serving import wait_ready
    from service.deploy.app import build_app
    from service.deploy.settings import deep_merge

    args = file_args(ROOT / "deploy" / "serve_config.yaml")
    single = {"autoscaling": None, "num_replicas": 1}
    args = deep_merge(args, {"checkpoint": str(service.checkpoint), "router": single, "backbone": single,
                             "heads": {"default": single}})
    serve.run(build_app(args), name=APP, route_prefix=PREFIX)
    url = service.url + PREFIX
    wait_ready(url, 180)
    yield url
    serve.delete(APP)


def _commands(program: str) -> list[list[str]]:
    return [words_of(c) for c in readme_commands() if words_of(c)[0].endswith(program)]


def _curl_request(words: list[str]) -> tuple[str, str, dict | None]:
    """(method, path, JSON body) of a README curl command (-s, -H and -d are the options it uses)."""
    url = next(w for w in words[1:] if w.startswith(README_HOST))
    body = words[words.index("-d") + 1] if "-d" in words else None
    return ("POST" if body else "GET"), urlsplit(url).path, (json.loads(body) if body else None)


def test_every_readme_curl_request_is_answered(service, shipped):
    curls = _commands("curl")
    assert len(curls) >= 4, "the README's curl examples were not found"
    with httpx.Client(base_url=shipped, timeout=60) as client:
        for words in curls:
            method, path, body = _curl_request(words)
            r = client.request(method, path, json=body)
            assert r.status_code == 200, f"{method} {path} {body}: HTTP {r.status_code} {r.text[:300]}"
            if body is not None and "task" in body:
                answer = r.json()
                assert answer["target"]["head"] == service.manifest.tasks[body["task"]], answer
                assert answer["errors"] == [], answer["errors"]


def _locust_argv(words: list[str], url: str, out: Path) -> list[str]:
    """The README's command with its host, duration and report paths replaced; nothing else."""
    argv = [str(Path(sys.executable).parent / "locust")] + words[1:]
    replace = {"--host": url, "-t": LOCUST_SECONDS, "--csv": str(out / "run"), "--html": str(out / "report.html")}
    for option, value in replace.items():
        assert option in argv, f"the README's locust command has no {option}"
        argv[argv.index(option) + 1] = value
    return argv


def test_the_readme_locust_command_ends_with_no_failure(shipped, tmp_path):
    (words,) = _commands("locust")
    done = subprocess.run(_locust_argv(words, shipped, tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=180)
    output = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, f"locust exited {done.returncode}:\n{output}"
    with (tmp_path / "run_stats.csv").open() as f:
        total = next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")
    assert int(total["Request Count"]) > 0, output
    assert int(total["Failure Count"]) == 0, output
    assert (tmp_path / "report.html").stat().st_size > 0
