#!/usr/bin/env bash
# Recipe variants of the `quick` preset, trained side by side on a lent GPU in fp32 with the same
# fixed steps, seeds and data as on the CPU, so their held-out numbers stand in for CPU runs that
# would take an hour each on a busy 2-core machine. Run it in the same device call as
# train_default.sh (after its wheels are installed), e.g. in the background.
#
#   bash scripts/gpu/quick_sweep.sh OUT_DIR
#
# Writes OUT_DIR/quick_<variant>.{log,json}: the held-out table and the manifest's metrics.
set -uo pipefail
out=${1:?usage: quick_sweep.sh OUT_DIR}
mkdir -p "$out"
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
common=(--preset quick --force --quiet --set backbone.source=path --set backbone.path=.device/minilm
        --set 'optim.mixed_precision="off"' --set optim.num_threads=2 --set data.eval_per_setting=150)
declare -A variants=(
  [base]=""
  [mean_pool]="--set heads.yesno.config.pooling=mean --set heads.answer_type.config.pooling=mean"
  [steps200]="--set optim.steps=200 --set optim.eval_every=200"
  [steps100]="--set optim.steps=100 --set optim.eval_every=100"
  [bb_lr3e-4]="--set optim.backbone_lr=3.0e-4"
)
for name in "${!variants[@]}"; do
  (
    # shellcheck disable=SC2086
    python3 -m training train "${common[@]}" --out "/tmp/quick_$name" ${variants[$name]} > "$out/quick_$name.log" 2>&1
    python3 - "/tmp/quick_$name/manifest.json" "$out/quick_$name.json" <<'PY'
import json, sys
m = json.loads(open(sys.argv[1]).read())
t = m["training"]
json.dump({"metrics": m["metrics"], "steps": t["steps"], "train_seconds": t.get("train_seconds"),
           "config_optim": t["config"]["optim"]}, open(sys.argv[2], "w"), indent=1)
PY
  ) &
done
wait
for f in "$out"/quick_*.log; do echo "== $f"; grep -A12 "^task " "$f" | head -14; done
