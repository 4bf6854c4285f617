# Leave-one-corpus-out sweep: build -> extract -> memmap (or reuse --features_dir) -> for each corpus, train on
# all the others and evaluate on it (train.py does both, configs/loco.yaml) -> results table with the fold mean.
# The bash twin is run_loco.sh (same steps, same flags): pwsh scripts/run_loco.ps1 --demo
$ErrorActionPreference = "Stop"
. (Join-Path $PSScriptRoot "lib/common.ps1")

function Show-Usage {
    Write-Host @'
usage: scripts/run_loco.ps1 (--demo | --raw_dir DIR | --features_dir DIR) [options]

  --demo               build the synthetic demo corpus (all seven corpora, no download) and run on it
  --raw_dir DIR        corpora in their native layouts (python -m mer_builder all --raw_dir DIR)
  --datasets "A B"     corpora to build (builder names, e.g. ravdess meld esd emodb; default: all found)
  --features_dir DIR   skip building and extraction: use this feature root (e.g. outputs/demo/features)
  --out_dir DIR        everything goes here (default outputs/loco, or outputs/demo with --demo)
  --config FILE        training config (default configs/loco.yaml)
  --seeds "1 2 3"      train once per seed; the table reports mean ± std
  --num_workers N      parallel workers for building and extraction
  --holdout CORPUS     hold out just this corpus (dataset name, e.g. MELD) instead of each in turn
  --set KEY=VALUE      extra train.py override, repeatable (e.g. --set training.epochs=10)
  --quiet              no progress bars
Re-running continues where it stopped: finished stages, folds and seeds are reused.
'@
}

$Config = "$MerRoot/configs/loco.yaml"
$OutDefault = "loco"
Read-CommonFlags $args
Prepare-Features
$RunName = "loco"
Train $RunName true
Collect "$OutDir/runs/$RunName"
