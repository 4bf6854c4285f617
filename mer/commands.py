"""Command lines of `train.py`, `train_hf_e2e.py`, `evaluate.py`, `evaluate_hf_e2e.py`, `collect_results.py` and
`cross_corpus.py` (`mer train`, `mer finetune`, `mer evaluate`, `mer results`, `mer cross-corpus`); the files at
the repository root only call these."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from mer_builder.cli_common import InputError, add_out_dir, cli_parser, run_command
from mer_builder.fsutil import atomic_write_text

from .config import describe_keys
from .evaluation import headline
from .results import collect, csv_table, list_runs, markdown_table, runs_csv, runs_table


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


def train_parser(prog: str = "train.py", finetune: bool = False) -> argparse.ArgumentParser:
    parser = cli_parser(
        prog,
        "Fine-tune pretrained encoders with a fusion head, end to end, on the builder's processed folder "
        "(data.processed_dir), under a protocol (pooled, loco, iemocap_loso) for one or more seeds."
        if finetune
        else "Train fusion models under a protocol (pooled, loco, iemocap_loso) for one or more seeds.",
    )
    parser.add_argument(
        "--config",
        help="YAML config: a path, or the name of a config shipped with mer (e.g. mer_builder_at_simple; "
        "see configs/); keys not given keep their defaults",
    )
    parser.add_argument("--modalities", nargs="+", metavar="M", help="shorthand for --set data.modalities=[...]")
    parser.add_argument("--run_name", help="shorthand for --set experiment.name=...")
    parser.add_argument("--seeds", nargs="+", type=int, help="shorthand for --set experiment.seeds=[...]")
    add_out_dir(parser, "shorthand for --set experiment.output_dir=... (where run folders go)", required=False)
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
    if args.out_dir:
        sets.append(f"experiment.output_dir={args.out_dir}")
    if args.seeds:
        sets.append(f"experiment.seeds=[{','.join(map(str, args.seeds))}]")
    return sets


def train_main(argv: Sequence[str] | None = None, prog: str = "train.py", finetune: bool = False) -> int:
    """train.py (feature vectors), or with `finetune` train_hf_e2e.py (raw inputs from a processed folder)."""
    return run_command(train_parser(prog, finetune), argv, lambda args: _train(args, finetune))


def train_e2e_main(argv: Sequence[str] | None = None, prog: str = "train_hf_e2e.py") -> int:
    return train_main(argv, prog, finetune=True)


def _train(args: argparse.Namespace, finetune: bool) -> int:
    if args.list_keys:
        print(describe_keys())
        return 0
    from .api import finetune as finetune_run
    from .api import train

    run = (finetune_run if finetune else train)(
        args.config,
        [*_shorthands(args), *args.overrides],
        overwrite=args.overwrite,
        resume=args.resume,
        quiet=args.quiet,
    )
    if os.environ.get("RANK", "0") == "0":  # under torchrun, the table once
        print(f"run folder: {run.run_dir}")
        if run.results:
            print(run.table(), end="")
    return 0


def evaluate_parser(prog: str = "evaluate.py", finetune_only: bool = False) -> argparse.ArgumentParser:
    parser = cli_parser(
        prog,
        "Evaluate a fine-tuned checkpoint on groups of a processed folder (data.processed_dir, "
        "data.eval_splits); write metrics and plots."
        if finetune_only
        else "Evaluate a checkpoint and write metrics and plots: a train.py checkpoint on a feature dir "
        "(data.eval_dir), a train_hf_e2e.py checkpoint on groups of a processed folder (data.processed_dir, "
        "data.eval_splits).",
    )
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint (checkpoints/best.pt of a run)")
    parser.add_argument(
        "--config",
        help="config (a path or a shipped config's name) for data.eval_dir and batch size/device; "
        "default: the config saved in the checkpoint",
    )
    add_out_dir(parser, "folder for metrics_eval.json and the plots")
    parser.add_argument("--name", help="name of the evaluated set in the outputs (default: the eval dir's name)")
    _add_common(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation in --out_dir")
    return parser


def evaluate_main(argv: Sequence[str] | None = None, prog: str = "evaluate.py", finetune_only: bool = False) -> int:
    """evaluate.py (either kind of checkpoint), or with `finetune_only` evaluate_hf_e2e.py."""
    return run_command(evaluate_parser(prog, finetune_only), argv, lambda args: _evaluate(args, finetune_only))


def evaluate_e2e_main(argv: Sequence[str] | None = None, prog: str = "evaluate_hf_e2e.py") -> int:
    return evaluate_main(argv, prog, finetune_only=True)


def _evaluate(args: argparse.Namespace, finetune_only: bool) -> int:
    from .api import evaluate, evaluate_finetuned
    from .training.checkpoint import CheckpointError, checkpoint_kind, load_checkpoint

    kind = checkpoint_kind(load_checkpoint(args.ckpt))
    if finetune_only and kind != "finetune":
        raise CheckpointError(
            f"{args.ckpt}: a {kind} checkpoint (made by train.py on feature vectors); "
            "evaluate it with evaluate.py --set data.eval_dir=..."
        )
    common = {"config": args.config, "overrides": args.overrides, "overwrite": args.overwrite, "quiet": args.quiet}
    if kind == "finetune":
        results = list(evaluate_finetuned(args.ckpt, None, args.out_dir, name=args.name, **common).values())
    else:
        results = [evaluate(args.ckpt, None, args.out_dir, name=args.name, **common)]
    for metrics in results:
        print(f"{metrics['eval_set']}: {headline(metrics)}")
    print(
        f"wrote {args.out_dir.resolve()}: metrics_eval.json, per_corpus.csv, confusion_matrix.csv/.png, predictions.csv"
    )
    return 0


def results_main(argv: Sequence[str] | None = None, prog: str = "collect_results.py") -> int:
    """`mer results FOLDER [--md F] [--csv F]`: print the table of every evaluation under FOLDER;
    `--list`: one line per run folder instead."""
    parser = cli_parser(prog, "Every metrics_eval.json under a folder -> one results table (mean ± std over seeds).")
    parser.add_argument("folder", type=Path, help="searched recursively for metrics_eval.json")
    parser.add_argument(
        "--list",
        action="store_true",
        help="list the run folders instead: name, config hash (the prefix of its hash-named checkpoints), model, "
        "label type, data, and the best val value of the selection metric (mean ± std over its units)",
    )
    parser.add_argument("--md", type=Path, help="also write the Markdown table here")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV (means and stds as numbers) here")
    return run_command(parser, argv, _results)


def _results(args: argparse.Namespace) -> int:
    if not args.folder.is_dir():
        raise InputError(f"{args.folder}: not a folder (expected one holding metrics_eval.json files)")
    if args.list:
        runs = list_runs(args.folder)
        if not runs:
            raise InputError(
                f"{args.folder}: no run folder under it (none holds config_resolved.yaml; run train.py first)"
            )
        return _write_table(args, runs_table(runs), runs_csv(runs))
    rows = collect(args.folder)
    if not rows:
        raise InputError(f"{args.folder}: no metrics_eval.json under it (run train.py or evaluate.py first)")
    return _write_table(args, markdown_table(rows), csv_table(rows))


def _write_table(args: argparse.Namespace, table: str, csv_text: str) -> int:
    """Print the markdown table; also write it to --md and the CSV to --csv when given."""
    print(table, end="")
    if args.md:
        atomic_write_text(args.md, table)
    if args.csv:
        atomic_write_text(args.csv, csv_text)
    return 0


def cross_corpus_parser(prog: str = "cross_corpus.py") -> argparse.ArgumentParser:
    parser = cli_parser(
        prog,
        "Leave-one-corpus-out over every corpus present plus the train-on-A/test-on-B matrix, "
        "as markdown, CSV and a heatmap PNG (UAR mean ± std over seeds).",
    )
    parser.add_argument(
        "--config", help="training config: a path or a shipped config's name (e.g. loco); the protocol is set here"
    )
    parser.add_argument("--run_name", default="cross_corpus", help="folder under experiment.output_dir")
    parser.add_argument("--seeds", nargs="+", type=int, help="shorthand for --set experiment.seeds=[...]")
    add_out_dir(parser, "shorthand for --set experiment.output_dir=... (the run folder goes under it)", required=False)
    parser.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override a config key (--set data.features_dir=M training.epochs=10)")  # fmt: skip
    return parser


def cross_corpus_main(argv: Sequence[str] | None = None, prog: str = "cross_corpus.py") -> int:
    """`python cross_corpus.py` / `mer cross-corpus`: both experiments, then the tables (printed and written)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_command(cross_corpus_parser(prog), argv, lambda args: _cross_corpus(args, prog, argv))


def _cross_corpus(args: argparse.Namespace, prog: str, argv: list[str]) -> int:
    from .config import load_config, validate
    from .cross_corpus import FILES, run_cross_corpus

    sets = [f"experiment.name={args.run_name}"]
    if args.seeds:
        sets.append(f"experiment.seeds=[{','.join(map(str, args.seeds))}]")
    if args.out_dir:
        sets.append(f"experiment.output_dir={args.out_dir}")
    config = validate(load_config(args.config, [*sets, *args.overrides]), require=["data.features_dir"])
    command = shlex.join([*(["python", prog] if prog.endswith(".py") else prog.split()), *argv])
    out = run_cross_corpus(config, command, quiet=args.quiet)
    print((out / FILES[0]).read_text(encoding="utf-8"))
    print(f"wrote {', '.join(str(out / name) for name in FILES)}")
    return 0
