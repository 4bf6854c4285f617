"""Command lines of `train.py`, `evaluate.py` and `collect_results.py` (`mer train`, `mer evaluate`, `mer results`);
the files at the repository root only call these."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from mer_builder.cli_common import InputError, add_out_dir, cli_parser, run_command
from mer_builder.fsutil import atomic_write_text

from .config import describe_keys
from .evaluation import headline
from .results import collect, csv_table, markdown_table


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


def train_parser(prog: str = "train.py") -> argparse.ArgumentParser:
    parser = cli_parser(
        prog, "Train fusion models under a protocol (pooled, loco, iemocap_loso) for one or more seeds."
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


def train_main(argv: Sequence[str] | None = None, prog: str = "train.py") -> int:
    return run_command(train_parser(prog), argv, _train)


def _train(args: argparse.Namespace) -> int:
    if args.list_keys:
        print(describe_keys())
        return 0
    from .api import train

    run = train(
        args.config,
        [*_shorthands(args), *args.overrides],
        overwrite=args.overwrite,
        resume=args.resume,
        quiet=args.quiet,
    )
    print(f"run folder: {run.run_dir}")
    if run.results:
        print(run.table(), end="")
    return 0


def evaluate_parser(prog: str = "evaluate.py") -> argparse.ArgumentParser:
    parser = cli_parser(
        prog, "Evaluate a trained checkpoint on a feature dir (any group or corpus); write metrics and plots."
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


def evaluate_main(argv: Sequence[str] | None = None, prog: str = "evaluate.py") -> int:
    return run_command(evaluate_parser(prog), argv, _evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from .api import evaluate

    metrics = evaluate(
        args.ckpt,
        None,
        args.out_dir,
        name=args.name,
        config=args.config,
        overrides=args.overrides,
        overwrite=args.overwrite,
        quiet=args.quiet,
    )
    print(f"{metrics['eval_set']}: {headline(metrics)}")
    print(
        f"wrote {args.out_dir.resolve()}/metrics_eval.json, per_corpus.csv, confusion_matrix.csv/.png, predictions.csv"
    )
    return 0


def results_main(argv: Sequence[str] | None = None, prog: str = "collect_results.py") -> int:
    """`mer results FOLDER [--md F] [--csv F]`: print the table of every evaluation under FOLDER."""
    parser = cli_parser(prog, "Every metrics_eval.json under a folder -> one results table (mean ± std over seeds).")
    parser.add_argument("folder", type=Path, help="searched recursively for metrics_eval.json")
    parser.add_argument("--md", type=Path, help="also write the Markdown table here")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV (means and stds as numbers) here")
    return run_command(parser, argv, _results)


def _results(args: argparse.Namespace) -> int:
    if not args.folder.is_dir():
        raise InputError(f"{args.folder}: not a folder (expected one holding metrics_eval.json files)")
    rows = collect(args.folder)
    if not rows:
        raise InputError(f"{args.folder}: no metrics_eval.json under it (run train.py or evaluate.py first)")
    table = markdown_table(rows)
    print(table, end="")
    if args.md:
        atomic_write_text(args.md, table)
    if args.csv:
        atomic_write_text(args.csv, csv_table(rows))
    return 0
