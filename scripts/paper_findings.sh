#!/usr/bin/env bash
# The paper's three findings, each measured on its own per-setting model (training/configs/paper/),
# trained with several seeds, each seed with its single-task controls, then `analyze` pooling the
# seeds (docs/analysis.md). Restartable: a checkpoint or control already written is kept.
#
# Usage: bash scripts/paper_findings.sh [OUT_DIR (runs/paper)] [SEEDS ("0 1 2")] [N (200)]
#   OUT_DIR/<setting>/seed<S>            the multi-task model of seed S (`--set optim.seed=S`)
#   OUT_DIR/<setting>/seed<S>-controls   its single-task controls: the analysed heads and the
#                                        setting's target heads, each alone, on as many
#                                        examples of its tasks as the model drew for them
#   OUT_DIR/<setting>/report             report.md, findings.json, examples.md, one chart per finding
#
# Seeds change optim.seed only (head initialisation, batch order); the data config, and so the
# test split the analysis reads, is the same for every seed. On a quiet 2-core CPU this takes
# hours (three settings x three seeds x a model and its two or three controls).
#
# SETTINGS (environment) picks the settings to run, e.g. SETTINGS=qa_summary (default: all three).
# TRAIN_ARGS (environment, split on spaces) is added to every `train`: e.g. a smoke run of the
# script itself, in about a minute, on a tiny random backbone:
#   TRAIN_ARGS="--set backbone.source=tiny --set optim.freeze_layers=1 --set optim.steps=2
#     --set optim.eval_every=2 --set data.eval_per_setting=4" bash scripts/paper_findings.sh /tmp/smoke "0 1" 6
set -euo pipefail
out=${1:-runs/paper}
seeds=${2:-"0 1 2"}
n=${3:-200}
py=${PYTHON:-.venv/bin/python}
read -r -a train_args <<< "${TRAIN_ARGS:-}"

declare -A findings=([numeric]=numeric,numeric_in_passage [multihop]=yesno [qa_summary]=qa_summary)
# the heads the analysis reads, and the target heads for the multi- vs single-task table
declare -A control_heads=([numeric]=span,multispan,number [multihop]=span,yesno [qa_summary]=span,summary)

read -r -a settings <<< "${SETTINGS:-numeric multihop qa_summary}"
for setting in "${settings[@]}"; do
  [ -n "${findings[$setting]:-}" ] || { echo "unknown setting '$setting' in SETTINGS (numeric, multihop, qa_summary)" >&2; exit 2; }
  checkpoints=() controls=()
  for seed in $seeds; do
    ckpt=$out/$setting/seed$seed
    if [ ! -f "$ckpt/manifest.json" ]; then
      $py -m training train --config "training/configs/paper/$setting.yaml" --out "$ckpt" --force \
          --set optim.seed="$seed" --quiet "${train_args[@]}"
    fi
    $py -m training controls --checkpoint "$ckpt" --out "$ckpt-controls" --heads "${control_heads[$setting]}" --quiet
    checkpoints+=("$ckpt") controls+=("$ckpt-controls")
  done
  $py -m training analyze --checkpoint "${checkpoints[@]}" --controls "${controls[@]}" \
      --out "$out/$setting/report" --n "$n" --findings "${findings[$setting]}" --quiet
done
for setting in "${settings[@]}"; do echo "report: $out/$setting/report/report.md"; done
