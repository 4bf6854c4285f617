#!/usr/bin/env bash
# Baseline audio+text run: build -> extract MFCC + hashing text -> memmap -> train -> evaluate testA and testB
# -> results table. `--demo` does all of it on the builder's synthetic demo corpus (no download).
# The PowerShell twin is run_baseline_at.ps1 (same steps, same flags).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    cat <<'TEXT'
usage: scripts/run_baseline_at.sh (--demo | --raw_dir DIR | --features_dir DIR) [options]

  --demo               build the synthetic demo corpus (all seven corpora, no download) and run on it
  --raw_dir DIR        corpora in their native layouts (python -m mer_builder all --raw_dir DIR)
  --datasets "A B"     corpora to build (builder names, e.g. ravdess meld esd emodb; default: all found)
  --features_dir DIR   skip building and extraction: train on this feature root (train/ val/ testA/ testB/)
  --out_dir DIR        everything goes here (default outputs/baseline_at, or outputs/demo with --demo)
  --config FILE        training config (default configs/mer_builder_at_simple.yaml)
  --seeds "1 2 3"      train once per seed; the table reports mean ± std
  --num_workers N      parallel workers for building and extraction
  --set KEY=VALUE      extra train.py override, repeatable (e.g. --set training.epochs=10)
  --quiet              no progress bars
Re-running continues where it stopped: finished stages and seeds are reused.
TEXT
}

CONFIG="$MER_ROOT/configs/mer_builder_at_simple.yaml"
OUT_DEFAULT="baseline_at"
parse_common_flags "$@"
[ -z "$HOLDOUT" ] || die "--holdout belongs to run_loco.sh"
prepare_features
RUN_NAME="baseline_at"
RUN_DIR="$OUT_DIR/runs/$RUN_NAME"
train "$RUN_NAME" false

for checkpoint in "$RUN_DIR"/seed*/checkpoints/best.pt; do
    unit_dir="$(dirname "$(dirname "$checkpoint")")"
    for group in testA testB; do
        if [ -d "$FEATURES_DIR/$group" ]; then
            step python "$MER_ROOT/evaluate.py" --ckpt "$checkpoint" --set "data.eval_dir=$FEATURES_DIR/$group" --out_dir "$unit_dir/eval/$group" --overwrite ${QUIET[@]+"${QUIET[@]}"}
        fi
    done
done
collect "$RUN_DIR"
