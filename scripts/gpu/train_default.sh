#!/usr/bin/env bash
# Train the `default` preset on a CUDA machine that has python3 with torch and transformers but no
# network and no project install. Carry: .device (wheels in .device/whl, MiniLM in .device/minilm,
# both made by scripts/gpu/prepare.sh on a machine with network).
# Usage: bash scripts/gpu/train_default.sh OUT_DIR [extra `python -m training train` args]
set -euo pipefail
out=${1:?usage: train_default.sh OUT_DIR [args]}; shift
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .device/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
python3 - <<'PY'
import torch, transformers
print(f"torch {torch.__version__} cuda {torch.cuda.is_available()} {torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''}; transformers {transformers.__version__}")
PY
python3 -m training train --preset default --out /tmp/ckpt_default --force --quiet \
    --set backbone.source=path --set backbone.path=.device/minilm "$@"
mkdir -p "$out"
cp /tmp/ckpt_default/manifest.json /tmp/ckpt_default/metrics.jsonl /tmp/ckpt_default/curves.png "$out"/
du -sh /tmp/ckpt_default/*
