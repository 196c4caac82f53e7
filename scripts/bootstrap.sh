#!/usr/bin/env bash
# Creates or reuses a virtual environment and installs the project into it from the lock files in
# requirements/ (written by scripts/lock.sh): every package at the version the lock pins, nothing
# resolved anew. Idempotent and fast the second time: it installs again only when pyproject.toml,
# the mode's lock file or this script changed since the last install.
#
#   bash scripts/bootstrap.sh [runtime]   # serving: what deploy/serve_config.yaml needs (requirements/runtime.lock)
#   bash scripts/bootstrap.sh train       # + training and the MiniLM backbone: what `make demo` needs
#   bash scripts/bootstrap.sh dev         # + the test and load tools: what `make test` needs
#   bash scripts/bootstrap.sh --print dev # print the commands it would run, change nothing
#   bash scripts/bootstrap.sh --deps-only runtime   # the lock's packages only, not the project (the image)
#
# WIYH_VENV      the environment (default .venv)
# WIYH_TORCH     cpu (default): the CPU build of torch; cuda: PyPI's CUDA build (runtime only,
#                requirements/runtime-cuda.lock)
# PYTHON         the interpreter that creates the environment (default python3, >= 3.11)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${WIYH_VENV:-.venv}
PY=${PYTHON:-python3}
TORCH=${WIYH_TORCH:-cpu}
CPU_INDEX=${WIYH_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
UV_VERSION=0.13.9

usage() {
    echo "usage: bash scripts/bootstrap.sh [--print|--deps-only] [runtime|train|dev]  (WIYH_TORCH=cpu|cuda)" >&2
    exit 2
}
action=install
case "${1:-}" in
    --print) action=print; shift ;;
    --deps-only) action=deps; shift ;;
    -*) usage ;;
esac
MODE=${1:-runtime}
case "$MODE" in runtime | train | dev) ;; *) echo "[bootstrap] unknown mode '$MODE'" >&2; usage ;; esac
lock_of() {  # the lock file of a mode
    if [ "$TORCH" = cuda ]; then echo "requirements/$1-cuda.lock"; else echo "requirements/$1.lock"; fi
}
case "$TORCH" in
    cpu) ;;
    cuda) [ "$MODE" = runtime ] || { echo "[bootstrap] WIYH_TORCH=cuda installs the serving lock only (requirements/runtime-cuda.lock): use mode runtime" >&2; exit 2; } ;;
    *) echo "[bootstrap] WIYH_TORCH must be cpu or cuda (got '$TORCH')" >&2; exit 2 ;;
esac
lock=$(lock_of "$MODE")
[ -f "$lock" ] || { echo "[bootstrap] $lock is missing: 'bash scripts/lock.sh' writes it" >&2; exit 2; }

# Where torch comes from. A CPU lock pins torch==<version>+cpu, a build only the PyTorch CPU index
# carries (PyPI's torch of the same version is the CUDA build, several GB), so that index is asked
# for it, unless a directory of $PIP_FIND_LINKS holds that very wheel already.
# The CUDA lock pins torch==<version>, which a local +cpu wheel would match too: it reads PyPI only.
find_links=()
if [ "$TORCH" = cpu ]; then
    for entry in ${PIP_FIND_LINKS:-}; do find_links+=(--find-links "$entry"); done
fi
torch_source=()
cpu_torch=$({ grep -oE '^torch==[^ ;]+\+cpu' "$lock" || true; } | head -1 | cut -d= -f3)
if [ -n "$cpu_torch" ]; then
    torch_source=(--extra-index-url "$CPU_INDEX")
    for entry in ${PIP_FIND_LINKS:-}; do
        if [ -d "$entry" ] && compgen -G "$entry/torch-$cpu_torch-*.whl" >/dev/null; then
            torch_source=()
            break
        fi
    done
fi

# uv installs (it unpacks in parallel: the torch wheel in ~1 min where pip took ~8 on 2 cores,
# docs/training.md). --compile-bytecode: uv writes no .pyc by default, and where
# PYTHONDONTWRITEBYTECODE is set none is ever written, so every process (each Ray worker, replica,
# `serve` CLI) compiled ray, torch and transformers on import: a demo cold start took 152 s instead
# of 55 s (tests/integration/test_demo.py). --no-deps: the lock is the whole list.
uv=("$VENV/bin/python" -m uv pip install --python "$VENV/bin/python" --compile-bytecode --quiet
    ${find_links[@]+"${find_links[@]}"})
# With the CPU index beside PyPI, each pinned version is taken from whichever index has it (the CPU
# index also carries numpy, jinja2 and others, at other versions).
deps_uv=("${uv[@]}" --no-deps -r "$lock")
pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
deps_pip=("${pip[@]}" install --no-deps -r "$lock")
if [ ${#torch_source[@]} -gt 0 ]; then
    deps_uv+=("${torch_source[@]}" --index-strategy unsafe-best-match)
    deps_pip+=("${torch_source[@]}")
fi
project_uv=("${uv[@]}" --no-deps -e .)
project_pip=("${pip[@]}" install --no-deps -e .)

if [ "$action" = print ]; then
    show() { printf '%q ' "$@"; echo; }
    if [ ! -x "$VENV/bin/python" ]; then show "$PY" -m venv "$VENV"; fi
    show "${pip[@]}" install "uv==$UV_VERSION"
    show "${deps_uv[@]}"
    show "${project_uv[@]}"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "[bootstrap] creating $VENV"
    "$PY" -m venv "$VENV"
fi

stamp_of() { if [ "$TORCH" = cuda ]; then echo "$VENV/.wiyh-installed-$1-cuda"; else echo "$VENV/.wiyh-installed-$1"; fi; }
want_of() {  # what a mode's install was made from
    local files=(pyproject.toml scripts/bootstrap.sh "$(lock_of "$1")")
    if command -v sha256sum >/dev/null 2>&1; then cat "${files[@]}" | sha256sum; else cat "${files[@]}" | shasum -a 256; fi | cut -d' ' -f1
}
if [ "$action" = install ]; then
    # A dev install holds everything a train install has, and a train install a runtime one.
    covering=(dev)
    case "$MODE" in runtime) covering=(runtime train dev) ;; train) covering=(train dev) ;; esac
    [ "$TORCH" = cuda ] && covering=(runtime)
    for mode in "${covering[@]}"; do
        stamp=$(stamp_of "$mode")
        if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(want_of "$mode")" ]; then
            exit 0
        fi
    done
fi

if "${pip[@]}" install "uv==$UV_VERSION" 2>/dev/null; then
    deps=("${deps_uv[@]}")
    project=("${project_uv[@]}")
else
    echo "[bootstrap] uv is not installable here; using pip (slower)"
    deps=("${deps_pip[@]}")
    project=("${project_pip[@]}")
fi
echo "[bootstrap] installing $lock (torch: $TORCH)"
"${deps[@]}"
[ "$action" = deps ] && exit 0
echo "[bootstrap] installing the project ($MODE)"
"${project[@]}"
want_of "$MODE" > "$(stamp_of "$MODE")"
echo "[bootstrap] ready: $VENV"
