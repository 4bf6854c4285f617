# Shared steps of the run_*.ps1 drivers (dot-sourced, not run). Mirrors lib/common.sh line for line.
# Each stage is one Python command from the active environment; every command is echoed before it runs.

$MerRoot = (Resolve-Path (Join-Path $PSScriptRoot "../..")).Path
$FeatureGroups = @("train", "val", "testA", "testB")

function Step {
    [Console]::Error.WriteLine("+ " + ($args -join " "))
    $exe = $args[0]
    $rest = @($args | Select-Object -Skip 1)
    & $exe @rest
    if ($LASTEXITCODE -ne 0) { throw "step failed with exit code ${LASTEXITCODE}: $($args -join ' ')" }
}

function Die([string] $Message) {
    [Console]::Error.WriteLine("error: $Message")
    exit 2
}

function Absolute([string] $Path) {
    # An absolute path for a user-given one (it may not exist yet), so later steps can run from the root.
    $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
}

# Defaults, then the flags both drivers share; the caller sets $Config and $OutDefault first.
function Read-CommonFlags([string[]] $Arguments) {
    $script:Demo = $false; $script:RawDir = ""; $script:Datasets = ""; $script:FeaturesDir = ""; $script:OutDir = ""
    $script:Seeds = ""; $script:NumWorkers = ""; $script:Holdout = ""; $script:Quiet = @(); $script:Sets = @()
    $i = 0
    while ($i -lt $Arguments.Count) {
        $value = if ($i + 1 -lt $Arguments.Count) { $Arguments[$i + 1] } else { "" }
        switch -CaseSensitive ($Arguments[$i]) {
            "--demo" { $script:Demo = $true; $i += 1 }
            "--raw_dir" { $script:RawDir = Absolute $value; $i += 2 }
            "--datasets" { $script:Datasets = $value; $i += 2 }
            "--features_dir" { $script:FeaturesDir = Absolute $value; $i += 2 }
            "--out_dir" { $script:OutDir = Absolute $value; $i += 2 }
            "--config" { $script:Config = Absolute $value; $i += 2 }
            "--seeds" { $script:Seeds = $value; $i += 2 }
            "--num_workers" { $script:NumWorkers = $value; $i += 2 }
            "--holdout" { $script:Holdout = $value; $i += 2 }
            "--set" { $script:Sets += $value; $i += 2 }
            "--quiet" { $script:Quiet = @("--quiet"); $i += 1 }
            { $_ -in "-h", "--help" } { Show-Usage; exit 0 }
            default { Show-Usage; Die "unknown option $($Arguments[$i])" }
        }
    }
    if ($Demo -and $RawDir) { Die "--demo and --raw_dir exclude each other" }
    if (-not $Demo -and -not $RawDir -and -not $FeaturesDir) {
        Show-Usage
        Die "give --demo, --raw_dir DIR (corpora in their native layouts) or --features_dir DIR"
    }
    if (-not $OutDir) {
        if ($Demo) { $script:OutDir = "$MerRoot/outputs/demo" } else { $script:OutDir = "$MerRoot/outputs/$OutDefault" }
    }
}

# build -> extract MFCC + hashing text -> memmap; sets $FeaturesDir (skipped when --features_dir was given).
function Prepare-Features {
    if ($FeaturesDir) {
        if (-not (Test-Path -PathType Container $FeaturesDir)) { Die "--features_dir $FeaturesDir does not exist" }
        return
    }
    $buildOpts = @(); $extractOpts = @()
    if ($Datasets) {
        $buildOpts += @("--datasets") + ($Datasets -split "\s+" | Where-Object { $_ })
    }
    if ($NumWorkers) {
        $buildOpts += @("--num_workers", $NumWorkers)
        $extractOpts += @("--num_workers", $NumWorkers)
    }
    if ($Demo) {
        $script:RawDir = "$OutDir/raw"
        if (Test-Path -PathType Container $RawDir) {
            [Console]::Error.WriteLine("demo corpus: reusing $RawDir")
        } else {
            Step python -m mer_builder demo --out_dir "$OutDir"
        }
    }
    Step python -m mer_builder all --raw_dir "$RawDir" --out_dir "$OutDir/processed" @buildOpts @Quiet
    Step python "$MerRoot/extract_at_features.py" --processed_dir "$OutDir/processed" --out_dir "$OutDir/features_pkl" @extractOpts @Quiet
    foreach ($group in $FeatureGroups) {
        if (Test-Path -PathType Container "$OutDir/features_pkl/$group") {
            Step python "$MerRoot/build_memmap_features.py" --in_dir "$OutDir/features_pkl/$group" --out_dir "$OutDir/features/$group" @Quiet
        }
    }
    $script:FeaturesDir = "$OutDir/features"
}

# train.py with the driver's config; an existing run of the same name is resumed (finished seeds are kept).
function Train([string] $RunName, [string] $EvaluateTest) {
    $trainOpts = @()
    if ($Seeds) {
        $trainOpts += @("--seeds") + ($Seeds -split "\s+" | Where-Object { $_ })
    }
    if ($Holdout) {
        $trainOpts += @("--set", "data.holdout=$Holdout")
    }
    foreach ($item in $Sets) {
        $trainOpts += @("--set", $item)
    }
    Step python "$MerRoot/train.py" --config "$Config" --run_name "$RunName" --resume --set "data.features_dir=$FeaturesDir" "experiment.output_dir=$OutDir/runs" "evaluation.test=$EvaluateTest" @trainOpts @Quiet
}

function Collect([string] $RunDir) {
    Step python "$MerRoot/scripts/collect_results.py" "$RunDir" --md "$RunDir/results.md" --csv "$RunDir/results.csv"
}
