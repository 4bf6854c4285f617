# Baseline audio+text run: build -> extract MFCC + hashing text -> memmap -> train -> evaluate testA and testB
# -> results table. `--demo` does all of it on the builder's synthetic demo corpus (no download).
# The bash twin is run_baseline_at.sh (same steps, same flags): pwsh scripts/run_baseline_at.ps1 --demo
$ErrorActionPreference = "Stop"
. (Join-Path $PSScriptRoot "lib/common.ps1")

function Show-Usage {
    Write-Host @'
usage: scripts/run_baseline_at.ps1 (--demo | --raw_dir DIR | --features_dir DIR) [options]

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
'@
}

$Config = "$MerRoot/configs/mer_builder_at_simple.yaml"
$OutDefault = "baseline_at"
Read-CommonFlags $args
if ($Holdout) { Die "--holdout belongs to run_loco.ps1" }
Prepare-Features
$RunName = "baseline_at"
$RunDir = "$OutDir/runs/$RunName"
Train $RunName false

foreach ($checkpoint in Get-ChildItem -Path "$RunDir/seed*/checkpoints/best.pt") {
    $unitDir = Split-Path -Parent (Split-Path -Parent $checkpoint.FullName)
    foreach ($group in @("testA", "testB")) {
        if (Test-Path -PathType Container "$FeaturesDir/$group") {
            Step python "$MerRoot/evaluate.py" --ckpt "$($checkpoint.FullName)" --set "data.eval_dir=$FeaturesDir/$group" --out_dir "$unitDir/eval/$group" --overwrite @Quiet
        }
    }
}
Collect $RunDir
