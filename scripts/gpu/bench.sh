#!/usr/bin/env bash
# The serving benchmark (python -m loadtests.bench) on a CUDA machine that has python3 with torch
# and transformers but no network and no project install: the in-process engines in bfloat16
# autocast, the Serve stages on the GPU (deploy/serve_config.gpu.yaml: backbone 0.5 GPU, head
# replicas sharing the rest; WIYH_AUTOCAST=bfloat16 for every replica), hidden states moved as
# float16 (real tokens only, stored once for all head replicas).
#
# Carry (ignored paths, made on a machine with network):
#   .device/bundle   ray[serve] and the service's other wheels: ../shared/gpu/make-offline-bundle.sh .device/bundle
#   .device/whl      pydantic, rouge-score; .device/minilm (MiniLM weights): scripts/gpu/prepare.sh
# A trained checkpoint is used when $WIYH_CHECKPOINT (or checkpoints/quick) holds one; otherwise
# the quick model is built from .device/minilm with random heads (same sizes, same cost).
#
# Usage: bash scripts/gpu/bench.sh [OUT_DIR] [extra `python -m loadtests.bench` args]
#   e.g. bash scripts/gpu/bench.sh reports/bench-gpu --seconds 5 --concurrency 1,8,32,128
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-reports/bench-gpu}; shift || true
site=${WIYH_SITE:-/tmp/site}
bundle=${WIYH_BUNDLE:-.device/bundle}

python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this script is for a GPU machine (make bench runs on a CPU)')"
if ! python3 -c "import ray.serve" 2>/dev/null; then
    if [ ! -f "$bundle/ray-slim.tar.xz" ]; then
        echo "ray[serve] is not installed and $bundle has no bundle; make one where there is network:" >&2
        echo "  bash ../shared/gpu/make-offline-bundle.sh $bundle psutil httpx matplotlib pyyaml" >&2
        exit 2
    fi
    mkdir -p "$site"
    tar -xJf "$bundle/ray-slim.tar.xz" -C "$site"
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$site" "$bundle"/whl/*.whl
fi
if [ -d .device/whl ] && ! python3 -c "import pydantic, rouge_score" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" .device/whl/*.whl
fi
# Every Ray worker inherits this environment (ray.init starts the local cluster from here).
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 WIYH_AUTOCAST=${WIYH_AUTOCAST:-bfloat16}
python3 - <<'PY'
import torch, ray
print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, ray {ray.__version__}")
PY

checkpoint=${WIYH_CHECKPOINT:-checkpoints/quick}
args=(--device cuda --dtype "$WIYH_AUTOCAST" --config deploy/serve_config.gpu.yaml --out "$out")
if [ -f "$checkpoint/manifest.json" ]; then
    args+=(--checkpoint "$checkpoint")
elif [ -d .device/minilm ]; then
    args+=(--backbone-path .device/minilm)
fi
python3 -m loadtests.bench "${args[@]}" "$@"
