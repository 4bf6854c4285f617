"""Command lines of `train.py` and `evaluate.py` (the files at the repository root only call these)."""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import ConfigError, apply_overrides, describe_keys, load_config, validate
from .evaluation import EVAL_FILES, evaluate_checkpoint, headline
from .features.store import FeatureStoreError, open_feature_store
from .protocols import ProtocolError
from .training.checkpoint import CheckpointError, load_checkpoint
from .training.runtime import resolve_device

# A refused (code-running) or broken feature pickle is an UnpicklingError naming the file.
USER_ERRORS = (
    ConfigError, ProtocolError, CheckpointError, FeatureStoreError, FileNotFoundError, FileExistsError,
    pickle.UnpicklingError,
)  # fmt: skip


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key; values parse as YAML (--set training.lr=3e-4 data.modalities=[A,T])",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Train fusion models under a protocol (pooled, loco, iemocap_loso) for one or more seeds.",
    )
    parser.add_argument("--config", type=Path, help="YAML config (configs/*.yaml); keys not given keep their defaults")
    parser.add_argument("--modalities", nargs="+", metavar="M", help="shorthand for --set data.modalities=[...]")
    parser.add_argument("--run_name", help="shorthand for --set experiment.name=...")
    parser.add_argument("--seeds", nargs="+", type=int, help="shorthand for --set experiment.seeds=[...]")
    _add_common(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run folder of the same name")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from its last.pt files")
    parser.add_argument("--list_keys", action="store_true", help="print every config key with its default and exit")
    return parser


def _shorthands(args: argparse.Namespace) -> list[str]:
    sets = []
    if args.modalities:
        sets.append(f"data.modalities=[{','.join(args.modalities)}]")
    if args.run_name:
        sets.append(f"experiment.name={args.run_name}")
    if args.seeds:
        sets.append(f"experiment.seeds=[{','.join(map(str, args.seeds))}]")
    return sets


def train_main(argv: Sequence[str] | None = None) -> int:
    args = train_parser().parse_args(argv)
    if args.list_keys:
        print(describe_keys())
        return 0
    from .experiment import run_experiment

    try:
        config = validate(
            load_config(args.config, [*_shorthands(args), *args.overrides]), require=["data.features_dir"]
        )
        run_dir = run_experiment(config, overwrite=args.overwrite, resume=args.resume, quiet=args.quiet)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"run folder: {run_dir}")
    return 0


def evaluate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evaluate.py",
        description="Evaluate a trained checkpoint on a feature dir (any group or corpus); write metrics and plots.",
    )
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint (checkpoints/best.pt of a run)")
    parser.add_argument(
        "--config",
        type=Path,
        help="config for data.eval_dir and batch size/device; default: the config saved in the checkpoint",
    )
    parser.add_argument("--output_dir", type=Path, required=True, help="folder for metrics_eval.json and the plots")
    parser.add_argument("--name", help="name of the evaluated set in the outputs (default: the eval dir's name)")
    _add_common(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation in --output_dir")
    return parser


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    args = evaluate_parser().parse_args(argv)
    try:
        checkpoint = load_checkpoint(args.ckpt)
        if args.config is not None:
            config = load_config(args.config, args.overrides)
        else:
            config = checkpoint["config"]
            apply_overrides(config, args.overrides)
        config = validate(config, require=["data.eval_dir"])
        output_dir = args.output_dir.resolve()
        existing = [name for name in EVAL_FILES if (output_dir / name).exists()]
        if existing and not args.overwrite:
            raise FileExistsError(f"{output_dir} already holds {existing}; pass --overwrite to replace them")
        eval_dir = Path(config["data"]["eval_dir"])
        store = open_feature_store(eval_dir)
        device, note = resolve_device(config["training"]["device"])
        print(note)
        metrics = evaluate_checkpoint(
            checkpoint,
            store,
            output_dir,
            args.name or eval_dir.name,
            str(args.ckpt.resolve()),
            config["training"]["eval_batch_size"],
            device,
            args.quiet,
            eval_dir=str(eval_dir),
        )
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{metrics['eval_set']}: {headline(metrics)}")
    print(f"wrote {output_dir}/metrics_eval.json, per_corpus.csv, confusion_matrix.csv/.png, predictions.csv")
    return 0
