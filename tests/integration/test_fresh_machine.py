"""The project's local cluster on a machine where no Ray has ever run.

Ray writes a cluster's address into `$RAY_TMPDIR/ray/` (or `$TMPDIR/ray/`) and does not create that
folder first: on a machine with no earlier Ray run every cluster start failed, while any machine that
had run Ray once passed. Here the cluster starts in a fresh process whose temp dir and HOME are new
and empty, and must leave both as empty as it found them.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration

# Start the local cluster and Serve, run one trivial application on it and ask it over HTTP.
START_AND_ASK = """
import httpx
from ray import serve
from loadtests.serving import LocalServe

@serve.deployment(ray_actor_options={"num_cpus": 0.1})
class Hello:
    def __call__(self, request) -> str:
        return "hello"

with LocalServe(num_cpus=1) as local:
    serve.run(Hello.bind(), name="hello", route_prefix="/")
    answer = httpx.get(local.url + "/", timeout=30)
    print("answered", answer.status_code, answer.text, flush=True)
"""


def _empty_dir(prefix: str) -> Path:
    # Short, so the cluster's own folder fits inside it (service.demo.cluster.private_temp_dir).
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


@pytest.mark.parametrize("ray_tmpdir_set", [False, True], ids=["TMPDIR only", "RAY_TMPDIR too"])
def test_the_local_cluster_starts_with_an_empty_temp_dir_and_home_and_leaves_them_empty(ray_tmpdir_set: bool) -> None:
    temp, home = _empty_dir("wf-"), _empty_dir("wfh-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(TMPDIR=str(temp), HOME=str(home), PYTHONPATH=str(ROOT))
    if ray_tmpdir_set:
        env["RAY_TMPDIR"] = str(temp)
    try:
        done = subprocess.run([sys.executable, "-c", START_AND_ASK], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=240)
        assert done.returncode == 0, f"the local cluster did not start:\n{(done.stdout + done.stderr)[-3000:]}"
        assert "answered 200 hello" in done.stdout, done.stdout + done.stderr[-2000:]
        left = sorted(p.name for p in temp.iterdir() if not p.name.startswith("torchinductor"))
        assert left == [], f"the cluster left {left} in its temp dir {temp}"
        assert not (home / ".ray").exists(), f"the cluster wrote {sorted(p.name for p in (home / '.ray').iterdir())} under ~/.ray"
    finally:
        subprocess.run(["rm", "-rf", str(temp), str(home)], check=False)
