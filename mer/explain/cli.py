"""`mer reference`: write a copy of a checkpoint with its training set's neutral acoustic reference."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from mer_builder.cli_common import cli_parser, run_command

from .reference import REFERENCE_KEY, training_reference


def reference_parser(prog: str = "mer reference") -> argparse.ArgumentParser:
    parser = cli_parser(
        prog,
        "Write a copy of a checkpoint with the acoustic statistics of its training set's neutral class, which "
        "explanations compare recordings with. The checkpoint given is never modified.",
    )
    parser.add_argument("--ckpt", type=Path, required=True, help="a checkpoint (checkpoints/best.pt of a run)")
    parser.add_argument("--out", type=Path, required=True, help="the new checkpoint file")
    parser.add_argument(
        "--processed_dir", type=Path, help="the builder output the features came from (default: found via them)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists (never --ckpt)")
    return parser


def reference_main(argv: Sequence[str] | None = None, prog: str = "mer reference") -> int:
    """`mer reference --ckpt K --out K2`: a copy of K with its training set's neutral reference."""
    return run_command(reference_parser(prog), argv, _reference)


def _reference(args: argparse.Namespace) -> int:
    from ..experiment import plan
    from ..protocols import ProtocolError
    from ..training.checkpoint import checkpoint_kind, load_checkpoint, save_checkpoint

    if args.out.resolve() == args.ckpt.resolve():
        raise FileExistsError(f"{args.out}: --out must be a new file; the checkpoint given is never modified")
    if args.out.exists() and not args.overwrite:
        raise FileExistsError(f"{args.out}: already exists; pass --overwrite to replace it")
    checkpoint = load_checkpoint(args.ckpt)
    data, folds, _ = plan(checkpoint["config"], finetune=checkpoint_kind(checkpoint) == "finetune")
    fold = next((f for f in folds if f.name == checkpoint.get("fold")), None)
    if fold is None:
        raise ProtocolError(f"{args.ckpt}: its fold {checkpoint.get('fold')!r} is not among {[f.name for f in folds]}")
    processed = [args.processed_dir] if args.processed_dir else None
    reference = training_reference(data.root, data.subset(fold.train).meta, processed=processed, quiet=args.quiet)
    if reference is None:
        raise FileNotFoundError(f"{args.ckpt}: no neutral training audio found; pass --processed_dir")
    save_checkpoint(args.out, {**checkpoint, REFERENCE_KEY: reference})
    print(f"wrote {args.out} ({reference['files']} neutral training utterances)")
    return 0
