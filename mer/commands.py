"""Command lines of `train.py` and `evaluate.py` (the files at the repository root only call these)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import ConfigError, apply_overrides, describe_keys, load_config, validate
from .evaluation import EVAL_FILES, evaluate_checkpoint, headline
from .features.packaged import ModelNotAvailableError
from .features.store import SubsetStore, open_feature_store
from .finetune.encoders import EncoderError
from .finetune.inputs import InputError
from .protocols import ProtocolError
from .training.checkpoint import CheckpointError, checkpoint_kind, load_checkpoint
from .training.runtime import resolve_device

USER_ERRORS = (
    ConfigError,
    ProtocolError,
    CheckpointError,
    InputError,
    EncoderError,
    ModelNotAvailableError,
    FileNotFoundError,
    FileExistsError,
)


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


def train_parser(finetune: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train_hf_e2e.py" if finetune else "train.py",
        description=(
            "Fine-tune pretrained encoders with a fusion head, end to end, on a processed folder "
            "(data.processed_dir), under a protocol (pooled, loco, iemocap_loso) for one or more seeds."
            if finetune
            else "Train fusion models under a protocol (pooled, loco, iemocap_loso) for one or more seeds."
        ),
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


def train_main(argv: Sequence[str] | None = None, finetune: bool = False) -> int:
    """train.py (feature vectors), or with `finetune` train_hf_e2e.py (raw inputs from a processed folder)."""
    args = train_parser(finetune).parse_args(argv)
    if args.list_keys:
        print(describe_keys())
        return 0
    from .experiment import run_experiment

    try:
        config = validate(
            load_config(args.config, [*_shorthands(args), *args.overrides]),
            require=["data.processed_dir" if finetune else "data.features_dir"],
        )
        run_dir = run_experiment(
            config, overwrite=args.overwrite, resume=args.resume, quiet=args.quiet, finetune=finetune
        )
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"run folder: {run_dir}")
    return 0


def train_e2e_main(argv: Sequence[str] | None = None) -> int:
    return train_main(argv, finetune=True)


def evaluate_parser(finetune_only: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evaluate_hf_e2e.py" if finetune_only else "evaluate.py",
        description=(
            "Evaluate a fine-tuned checkpoint on groups of a processed folder; write metrics and plots."
            if finetune_only
            else "Evaluate a checkpoint (any group or corpus) and write metrics and plots: a train.py checkpoint "
            "on a feature dir (data.eval_dir), a train_hf_e2e.py checkpoint on groups of a processed folder "
            "(data.processed_dir, data.eval_splits)."
        ),
    )
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint (checkpoints/best.pt of a run)")
    parser.add_argument(
        "--config",
        type=Path,
        help="config for the data keys and batch size/device; default: the config saved in the checkpoint",
    )
    parser.add_argument("--output_dir", type=Path, required=True, help="folder for metrics_eval.json and the plots")
    parser.add_argument("--name", help="name of the evaluated set in the outputs (default: the eval dir's name)")
    _add_common(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation in --output_dir")
    return parser


def _check_free(output_dir: Path, overwrite: bool) -> None:
    existing = [name for name in EVAL_FILES if (output_dir / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{output_dir} already holds {existing}; pass --overwrite to replace them")


def _evaluate_features(args: argparse.Namespace, checkpoint: dict, config: dict) -> list[dict]:
    config = validate(config, require=["data.eval_dir"])
    output_dir = args.output_dir.resolve()
    _check_free(output_dir, args.overwrite)
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
    return [metrics]


def _evaluate_finetuned(args: argparse.Namespace, checkpoint: dict, config: dict) -> list[dict]:
    """Every group in data.eval_splits (default data.report_groups) of data.processed_dir, with the inputs
    made as in training (the checkpoint's encoders, tokenizer settings and audio length)."""
    from .finetune.inputs import open_utterances
    from .finetune.model import specs_from_info
    from .finetune.pipeline import prepare_inputs, text_inputs_from

    config = validate(config, require=["data.processed_dir"])
    data = config["data"]
    groups = data["eval_splits"] or data["report_groups"]
    output_dir = args.output_dir.resolve()
    outputs = {g: output_dir if len(groups) == 1 else output_dir / g for g in groups}
    for folder in outputs.values():
        _check_free(folder, args.overwrite)
    device, note = resolve_device(config["training"]["device"])
    print(note)
    info = checkpoint["finetune"]
    store, row_groups = open_utterances(
        data["processed_dir"], checkpoint["modalities"], info["max_audio_s"], data["corpora"], groups
    )
    prepare_inputs(store, specs_from_info(info), text_inputs_from(info["text_inputs"]), device)
    store.quiet = args.quiet
    results = []
    for group in groups:
        rows = [i for i, g in enumerate(row_groups) if g == group]
        if not rows:
            raise ProtocolError(f"{data['processed_dir']}: no rows in group {group!r} (for the chosen corpora)")
        results.append(
            evaluate_checkpoint(
                checkpoint,
                SubsetStore(store, rows),
                outputs[group],
                args.name if args.name and len(groups) == 1 else group,
                str(args.ckpt.resolve()),
                config["training"]["eval_batch_size"],
                device,
                args.quiet,
                eval_dir=str(data["processed_dir"]),
            )
        )
    return results


def evaluate_main(argv: Sequence[str] | None = None, finetune_only: bool = False) -> int:
    args = evaluate_parser(finetune_only).parse_args(argv)
    try:
        checkpoint = load_checkpoint(args.ckpt)
        kind = checkpoint_kind(checkpoint)
        if finetune_only and kind != "finetune":
            raise CheckpointError(
                f"{args.ckpt}: a {kind} checkpoint (made by train.py on feature vectors); "
                "evaluate it with evaluate.py --set data.eval_dir=..."
            )
        if args.config is not None:
            config = load_config(args.config, args.overrides)
        else:
            config = checkpoint["config"]
            apply_overrides(config, args.overrides)
        run = _evaluate_finetuned if kind == "finetune" else _evaluate_features
        results = run(args, checkpoint, config)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for metrics in results:
        print(f"{metrics['eval_set']}: {headline(metrics)}")
    print(f"wrote {args.output_dir}: metrics_eval.json, per_corpus.csv, confusion_matrix.csv/.png, predictions.csv")
    return 0


def evaluate_e2e_main(argv: Sequence[str] | None = None) -> int:
    return evaluate_main(argv, finetune_only=True)
