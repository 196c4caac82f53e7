#!/usr/bin/env bash
# Train the `default` preset on a CUDA machine that has python3 with torch and transformers but no
# network and no project install, in one device call. Carry: .device (wheels in .device/whl, MiniLM
# in fp16 in .device/minilm, both made by scripts/gpu/prepare.sh on a machine with network).
#
#   bash scripts/gpu/train_default.sh OUT_DIR [extra `python -m training train` args]
#
# Writes OUT_DIR/{manifest.json, metrics.jsonl, train.log, summary.txt}: the held-out table, the
# steps that ran and ms/step. Test it on a CPU first:
#   PATH=.venv/bin:$PATH bash scripts/gpu/train_default.sh /tmp/gpu_out --set optim.steps=5 ...
set -uo pipefail
out=${1:?usage: train_default.sh OUT_DIR [args]}; shift
mkdir -p "$out"
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
if ! python3 -c "import pydantic, rouge_score" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .device/whl/*.whl
fi
python3 - <<'PY' | tee "$out/summary.txt"
import torch, transformers
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
print(f"torch {torch.__version__}, {gpu}, transformers {transformers.__version__}")
PY
ckpt=/tmp/ckpt_default
start=$(date +%s)
python3 -m training train --preset default --out "$ckpt" --force --quiet \
    --set backbone.source=path --set backbone.path=.device/minilm "$@" > "$out/train.log" 2>&1
status=$?
echo "training exit status $status after $(( $(date +%s) - start )) s wall" | tee -a "$out/summary.txt"
cp "$ckpt"/manifest.json "$ckpt"/metrics.jsonl "$out"/ 2>/dev/null
cp "$ckpt"/curves.png "$out"/ 2>/dev/null
python3 - "$out" <<'PY' | tee -a "$out/summary.txt"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
manifest = json.loads((out / "manifest.json").read_text())
t = manifest["training"]
print(f"steps run {t['steps']} of {t['config']['optim']['steps']}, batch {t['config']['optim']['batch_size']}, "
      f"{t.get('train_seconds')} s in training steps = {1000 * t.get('train_seconds', 0) / max(t['steps'], 1):.0f} ms/step, "
      f"{t.get('examples_per_s')} examples/s; wall {manifest['training'].get('wall_seconds')} s; device {t['device']}")
from training.evaluate import format_table
print(format_table(manifest["metrics"]["held_out"]))
PY
du -sh "$ckpt"/* | tee -a "$out/summary.txt"
tail -5 "$out/train.log"
exit $status
