"""Every command the README shows starts as written: each `python -m` command's options exist
(its --help lists every option the README passes, and the values the README gives are accepted up
to there), each make target exists, each script parses. The commands that need a running service
(curl, locust) run in tests/integration/test_readme_commands.py; `make test` is CI itself."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.readme import readme_commands, words_of

ROOT = Path(__file__).resolve().parents[2]
NEEDS_A_SERVICE = ("curl", "locust")  # run against the test app by the integration test
KINDS = ("make", "python", "serve", "bash", "mkdir") + NEEDS_A_SERVICE

COMMANDS = [words_of(c) for c in readme_commands()]


def _kind(words: list[str]) -> str:
    return Path(words[0]).name


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_every_readme_command_is_of_a_kind_this_test_checks() -> None:
    assert COMMANDS, "no ```bash block found in README.md"
    unknown = [" ".join(w) for w in COMMANDS if _kind(w) not in KINDS]
    assert unknown == [], f"add a check for these README commands: {unknown}"


@pytest.mark.parametrize("words", [w for w in COMMANDS if _kind(w) == "python"], ids=lambda w: " ".join(w[1:6]))
def test_each_python_command_accepts_its_options(words: list[str]) -> None:
    argv = [sys.executable] + words[1:] + ["--help"]
    done = _run(argv)
    assert done.returncode == 0, f"{' '.join(words)}: exit {done.returncode}\n{done.stderr[-2000:]}"
    options = {w.split("=", 1)[0] for w in words if w.startswith("--")}
    missing = sorted(o for o in options if o not in done.stdout)
    assert missing == [], f"{' '.join(words)}: its --help has no {missing}"


@pytest.mark.parametrize("words", [w for w in COMMANDS if _kind(w) == "make"], ids=lambda w: " ".join(w))
def test_each_make_target_exists(words: list[str]) -> None:
    done = _run(["make", "-n"] + words[1:])
    assert done.returncode == 0, f"{' '.join(words)}: {done.stderr[-1000:]}"


@pytest.mark.parametrize("words", [w for w in COMMANDS if _kind(w) in ("bash", "serve")], ids=lambda w: " ".join(w))
def test_each_script_and_serve_command_starts(words: list[str]) -> None:
    if _kind(words) == "bash":
        done = _run(["bash", "-n"] + words[1:2])
    else:  # `serve run CONFIG`: Serve's CLI answers, and the config it is given exists
        assert (ROOT / words[-1]).is_file(), f"{' '.join(words)}: no file {words[-1]}"
        done = _run([str(Path(sys.executable).parent / "serve"), words[1], "--help"])
    assert done.returncode == 0, f"{' '.join(words)}: {(done.stdout + done.stderr)[-1000:]}"
