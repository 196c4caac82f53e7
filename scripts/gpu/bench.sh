#!/usr/bin/env bash
# The serving benchmark (python -m loadtests.bench) on a CUDA machine that has python3 with torch
# and transformers but no network and no project install, in ONE device call of at most ~8 min:
# the model-only ceiling, the in-process engine (bf16 autocast), and the Serve applications
# (every head a replica / every head colocated, through the proxy / the colocated one on its router
# replica's own port, Serve's direct ingress) up at once on the one GPU, each asking Ray for a
# third of it (loadtests/serving.py: placement_args gpu_share), WIYH_AUTOCAST=bfloat16 in every
# replica, hidden states moved as float16. Cells: every head at c=1, 32, 128; then 1 and 4 heads
# at c=128 (the GPU goals: 4 linear heads, single-item requests, c=128); then the batch
# endpoint, /v1/predict/batch with the config's limits.max_batch_items (32) items a request, 4 heads,
# 32 clients (the goal: 20,000 items/s).
#
# Carry (ignored paths, made on a machine with network), under 64 MiB together:
#   .device/bundle         ray[serve] and the service's other wheels (< 60 MB):
#                          bash ../shared/gpu/make-offline-bundle.sh .device/bundle psutil httpx matplotlib pyyaml
#   .device/minilm-config  MiniLM's config and tokenizer without weights (0.7 MB): the backbone gets
#                          random weights of MiniLM's sizes here (same cost as the trained ones); or
#   .device/minilm         MiniLM's weights in fp16 (45 MB: with the bundle, over the carry limit)
#   .device/whl            only where the bundle lacks pydantic (scripts/gpu/prepare.sh)
# A trained checkpoint is used when $WIYH_CHECKPOINT (or checkpoints/quick) holds one; otherwise
# the quick model is built on that backbone with random heads, and the table says the heads are
# random (their decoders write until max_target_tokens or a chance EOS).
#
# Usage: bash scripts/gpu/bench.sh [OUT_DIR] [extra `python -m loadtests.bench` args, which win]
#   e.g. bash scripts/gpu/bench.sh reports/bench-gpu --seconds 8
# Tested on the CPU by the same code path: python -m loadtests.bench --device cpu \
#   --config deploy/serve_config.gpu.yaml ... (docs/service.md, Speed); not yet run on a GPU.
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
args=(--device cuda --dtype "$WIYH_AUTOCAST" --config deploy/serve_config.gpu.yaml --out "$out"
      --modes model_only,inprocess,fanout,colocated,colocated_direct --concurrency 1,32,128 --head-counts 1,4 --heads-concurrency 128
      --batch-concurrency 32 --seconds 4 --rounds 1)
if [ -f "$checkpoint/manifest.json" ]; then
    args+=(--checkpoint "$checkpoint")
elif [ -f .device/minilm/model.safetensors ]; then
    args+=(--backbone-path .device/minilm)
elif [ -d .device/minilm-config ]; then
    random=/tmp/minilm-random
    python3 - .device/minilm-config "$random" <<'PY'
import shutil, sys
from pathlib import Path
import torch
from transformers import AutoConfig, AutoModel
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
torch.manual_seed(0)
AutoModel.from_config(AutoConfig.from_pretrained(src)).save_pretrained(dst)  # random weights, MiniLM's sizes
for f in src.iterdir():
    if f.is_file() and f.name != "config.json":
        shutil.copy(f, dst / f.name)
PY
    args+=(--backbone-path "$random")
fi
# One device call is at most 10 minutes: stop the benchmark itself before that.
timeout "${WIYH_BENCH_TIMEOUT_S:-480}" python3 -m loadtests.bench "${args[@]}" "$@"
