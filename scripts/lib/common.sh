# Shared steps of the run_*.sh drivers (sourced, not run). Mirrors lib/common.ps1 line for line.
# Each stage is one Python command from the active environment; every command is echoed before it runs.

MER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FEATURE_GROUPS=(train val testA testB)

step() {
    echo "+ $*" >&2
    "$@"
}

die() {
    echo "error: $*" >&2
    exit 2
}

absolute() {
    # An absolute path for a user-given one (it may not exist yet), so later steps can run from the root.
    case "$1" in
        /*) echo "$1" ;;
        *) echo "$PWD/$1" ;;
    esac
}

# Defaults, then the flags both drivers share; the caller sets CONFIG and OUT_DEFAULT first.
parse_common_flags() {
    DEMO=0 RAW_DIR="" DATASETS="" FEATURES_DIR="" OUT_DIR="" SEEDS="" NUM_WORKERS="" HOLDOUT="" QUIET=()
    SETS=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --demo) DEMO=1; shift ;;
            --raw_dir) RAW_DIR="$(absolute "$2")"; shift 2 ;;
            --datasets) DATASETS="$2"; shift 2 ;;
            --features_dir) FEATURES_DIR="$(absolute "$2")"; shift 2 ;;
            --out_dir) OUT_DIR="$(absolute "$2")"; shift 2 ;;
            --config) CONFIG="$(absolute "$2")"; shift 2 ;;
            --seeds) SEEDS="$2"; shift 2 ;;
            --num_workers) NUM_WORKERS="$2"; shift 2 ;;
            --holdout) HOLDOUT="$2"; shift 2 ;;
            --set) SETS+=("$2"); shift 2 ;;
            --quiet) QUIET=(--quiet); shift ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown option $1" ;;
        esac
    done
    if [ "$DEMO" = 1 ] && [ -n "$RAW_DIR" ]; then die "--demo and --raw_dir exclude each other"; fi
    if [ "$DEMO" = 0 ] && [ -z "$RAW_DIR" ] && [ -z "$FEATURES_DIR" ]; then
        usage >&2
        die "give --demo, --raw_dir DIR (corpora in their native layouts) or --features_dir DIR"
    fi
    if [ -z "$OUT_DIR" ]; then
        if [ "$DEMO" = 1 ]; then OUT_DIR="$MER_ROOT/outputs/demo"; else OUT_DIR="$MER_ROOT/outputs/$OUT_DEFAULT"; fi
    fi
}

# build -> extract MFCC + hashing text -> memmap; sets FEATURES_DIR (skipped when --features_dir was given).
prepare_features() {
    if [ -n "$FEATURES_DIR" ]; then
        [ -d "$FEATURES_DIR" ] || die "--features_dir $FEATURES_DIR does not exist"
        return
    fi
    local build_opts=() extract_opts=() group
    if [ -n "$DATASETS" ]; then
        # shellcheck disable=SC2206  # word splitting intended: "ravdess meld" -> two arguments
        build_opts+=(--datasets $DATASETS)
    fi
    if [ -n "$NUM_WORKERS" ]; then
        build_opts+=(--num_workers "$NUM_WORKERS")
        extract_opts+=(--num_workers "$NUM_WORKERS")
    fi
    if [ "$DEMO" = 1 ]; then
        RAW_DIR="$OUT_DIR/raw"
        if [ -d "$RAW_DIR" ]; then
            echo "demo corpus: reusing $RAW_DIR" >&2
        else
            step python -m mer_builder demo --out_dir "$OUT_DIR"
        fi
    fi
    step python -m mer_builder all --raw_dir "$RAW_DIR" --out_dir "$OUT_DIR/processed" ${build_opts[@]+"${build_opts[@]}"} ${QUIET[@]+"${QUIET[@]}"}
    step python "$MER_ROOT/extract_at_features.py" --processed_dir "$OUT_DIR/processed" --out_dir "$OUT_DIR/features_pkl" ${extract_opts[@]+"${extract_opts[@]}"} ${QUIET[@]+"${QUIET[@]}"}
    for group in "${FEATURE_GROUPS[@]}"; do
        if [ -d "$OUT_DIR/features_pkl/$group" ]; then
            step python "$MER_ROOT/build_memmap_features.py" --in_dir "$OUT_DIR/features_pkl/$group" --out_dir "$OUT_DIR/features/$group" ${QUIET[@]+"${QUIET[@]}"}
        fi
    done
    FEATURES_DIR="$OUT_DIR/features"
}

# train.py with the driver's config; an existing run of the same name is resumed (finished seeds are kept).
train() {
    local run_name="$1" evaluate_test="$2" train_opts=() item
    if [ -n "$SEEDS" ]; then
        # shellcheck disable=SC2206
        train_opts+=(--seeds $SEEDS)
    fi
    if [ -n "$HOLDOUT" ]; then
        train_opts+=(--set "data.holdout=$HOLDOUT")
    fi
    for item in ${SETS[@]+"${SETS[@]}"}; do
        train_opts+=(--set "$item")
    done
    step python "$MER_ROOT/train.py" --config "$CONFIG" --run_name "$run_name" --resume --set "data.features_dir=$FEATURES_DIR" "experiment.output_dir=$OUT_DIR/runs" "evaluation.test=$evaluate_test" ${train_opts[@]+"${train_opts[@]}"} ${QUIET[@]+"${QUIET[@]}"}
}

collect() {
    local run_dir="$1"
    step python "$MER_ROOT/scripts/collect_results.py" "$run_dir" --md "$run_dir/results.md" --csv "$run_dir/results.csv"
}
