#!/usr/bin/env bash
# The emergent-behaviour analysis on one lent GPU, in one call: train the `default` preset for a fixed time,
# train its single-task controls for the same number of steps, run `python -m training analyze`,
# and copy the report (markdown, JSON, PNGs, worked examples) to OUT_DIR.
# Needs what train_default.sh needs (carry .device, made by scripts/gpu/prepare.sh).
# Usage: bash scripts/gpu/analyze_default.sh OUT_DIR [TRAIN_SECONDS (default 200)]
# Sized for one 600 s call on an H100: ~200 s default (~2000 steps), ~3 x 80 s controls, ~60 s analysis.
set -euo pipefail
out=${1:?usage: analyze_default.sh OUT_DIR [TRAIN_SECONDS]}
budget=${2:-200}
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .device/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
set -x
python3 -m training train --preset default --out /tmp/default --force --quiet \
    --set backbone.source=path --set backbone.path=.device/minilm --set optim.time_budget_s="$budget"
python3 -m training controls --checkpoint /tmp/default --out /tmp/default-controls --quiet
python3 -m training analyze --checkpoint /tmp/default --controls /tmp/default-controls --out /tmp/report --quiet
set +x
mkdir -p "$out"
cp -r /tmp/report/. "$out"/
cp /tmp/default/manifest.json "$out"/default-manifest.json
for head in /tmp/default-controls/*/; do cp "$head/manifest.json" "$out/control-$(basename "$head")-manifest.json"; done
