#!/usr/bin/env bash
# Writes the lock files in requirements/ from pyproject.toml: every package an install gets, each at
# one exact version, for Linux and macOS, Python >= 3.11 (uv's universal resolution, with markers where
# they differ). scripts/bootstrap.sh and deploy/docker/Dockerfile install from them, with --no-deps.
# Needs PyPI and uv (bootstrap installs it into .venv).
#
#   bash scripts/lock.sh              # keeps each version a lock already pins while pyproject.toml allows it
#   bash scripts/lock.sh --upgrade    # the newest versions pyproject.toml allows
#   make lock                         # the first form
#
#   requirements/runtime.lock         serving (`pip install .`), the CPU build of torch
#   requirements/train.lock           + training/ and the MiniLM backbone package   (`make demo`)
#   requirements/dev.lock             + the test and load tools                      (`make test`)
#   requirements/runtime-cuda.lock    serving with PyPI's CUDA build of torch        (the CUDA image)
#
# The CPU locks pin torch==<version>+cpu, which only the PyTorch CPU index has: it is read from a
# directory of $PIP_FIND_LINKS holding that wheel, else from the index itself.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${WIYH_VENV:-.venv}
CPU_INDEX=${WIYH_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
PYTHON_MIN=3.11  # requires-python in pyproject.toml

if "$VENV/bin/python" -m uv --version >/dev/null 2>&1; then
    uv=("$VENV/bin/python" -m uv)
elif command -v uv >/dev/null 2>&1; then
    uv=(uv)
else
    echo "[lock] uv not found: run 'bash scripts/bootstrap.sh' first (it installs uv into $VENV)" >&2
    exit 1
fi

cpu_torch=$(grep -oE '^torch==[^ ;]+\+cpu' requirements/torch-cpu.in | head -1 | cut -d= -f3)
cpu_source=(--extra-index-url "$CPU_INDEX" --index-strategy unsafe-best-match)
for dir in ${PIP_FIND_LINKS:-}; do
    if [ -d "$dir" ] && compgen -G "$dir/torch-$cpu_torch-*.whl" >/dev/null; then
        cpu_source=(--find-links "$dir")
        break
    fi
done

compile() {  # compile OUT TORCH_IN [uv pip compile options]
    local out=$1 torch_in=$2
    shift 2
    echo "[lock] $out"
    "${uv[@]}" pip compile pyproject.toml "$torch_in" --output-file "$out" \
        --universal --python-version "$PYTHON_MIN" --excludes requirements/exclude.txt \
        --custom-compile-command "bash scripts/lock.sh" --quiet "$@" ${LOCK_ARGS[@]+"${LOCK_ARGS[@]}"}
}

LOCK_ARGS=("$@")
compile requirements/runtime.lock requirements/torch-cpu.in "${cpu_source[@]}"
compile requirements/train.lock requirements/torch-cpu.in "${cpu_source[@]}" --extra train --extra minilm
compile requirements/dev.lock requirements/torch-cpu.in "${cpu_source[@]}" --extra dev
compile requirements/runtime-cuda.lock requirements/torch-cuda.in
