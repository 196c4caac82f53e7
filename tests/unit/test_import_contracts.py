"""The import layers declared in pyproject.toml ([tool.importlinter]) hold for the whole code base,
and a deliberately added upward import breaks them: `lint-imports` reads the code statically, so a
copy of the packages with one import added is enough to show that the contracts can fail."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("model", "training", "service", "loadtests")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")], cwd=root,
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_code_keeps_every_import_contract():
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


@pytest.fixture
def copy_of_the_code(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize("module, added_import, broken", [
    # the core reaching up into the HTTP layer
    ("service/pipeline/predict.py", "from service.http.schemas import PredictRequest",
     "service layers: demo > deploy > http > inspector > replica > pipeline BROKEN"),
    # a replica reading the deploy settings
    ("service/replica/runners.py", "from service.deploy.stages import HeadStage",
     "service layers: demo > deploy > http > inspector > replica > pipeline BROKEN"),
    # the service pulling in the training stack
    ("service/demo/samples.py", "from training.data.synthetic import generate",
     "the service imports model code only: never training or the load tests BROKEN"),
    # model code depending on the service
    ("model/encoding.py", "from service.pipeline.limits import Limits",
     "model is the base: it imports no training, service or load-test code BROKEN"),
])
def test_an_added_upward_import_breaks_its_contract(copy_of_the_code: Path, module, added_import, broken):
    path = copy_of_the_code / module
    path.write_text(path.read_text() + f"\n{added_import}\n")
    run = lint_imports(copy_of_the_code)
    assert run.returncode != 0
    assert broken in run.stdout, run.stdout
    assert module.replace("/", ".").removesuffix(".py") in run.stdout  # the report names the importer
