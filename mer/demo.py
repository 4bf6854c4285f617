"""`mer demo`: the whole pipeline on the builder's synthetic demo corpus, with no download.
`mer demo --ckpt K` instead serves the local web demo of trained checkpoints (`mer.prediction.web`).

The same stages as `scripts/run_baseline_at.sh --demo`: write the seven demo corpora in their
native layouts -> build the manifest -> MFCC + hashed-text features -> memmaps -> train the
baseline A+T model (configs/mer_builder_at_simple.yaml) and evaluate testA and testB -> the
results table. Everything goes under `--out_dir`; a re-run reuses the finished stages.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mer_builder.cli_common import add_num_workers, add_out_dir, cli_parser, run_command

GROUPS = ("train", "val", "testA", "testB")
RUN_NAME = "baseline_at"
CONFIG = "mer_builder_at_simple"


def demo_parser(prog: str = "mer demo") -> argparse.ArgumentParser:
    parser = cli_parser(
        prog,
        "Run the whole pipeline (build, extract, memmap, train, evaluate, results) on the built-in "
        "synthetic demo corpus: no download, about a minute on 2 CPU cores.",
        "With --ckpt K (repeatable), serve the local web demo of those checkpoints at http://127.0.0.1:7860 "
        "instead: `mer demo --ckpt K --help` lists its options (docs/web_demo.md).",
    )
    add_out_dir(parser, "everything goes here", required=False, default=Path("outputs/demo"))
    parser.add_argument(
        "--datasets", nargs="+", metavar="NAME", help="demo corpora to build (builder names, e.g. ravdess meld); all"
    )
    parser.add_argument("--seeds", nargs="+", type=int, help="train once per seed (default: the config's, 1)")
    add_num_workers(parser, "building and extraction")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="extra training override"
    )
    return parser


def _stage(prog: str, main: Callable[..., int], argv: list[str]) -> int:
    print(f"+ {shlex.join([*prog.split(), *argv])}", file=sys.stderr)
    return main(argv, prog=prog)


def demo_main(argv: Sequence[str] | None = None, prog: str = "mer demo") -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(arg == "--ckpt" or arg.startswith("--ckpt=") for arg in args):  # try trained models in the browser
        from .prediction.web import web_demo_main

        return web_demo_main(args, prog)
    return run_command(demo_parser(prog), args, _demo)


def _demo(args: argparse.Namespace) -> int:
    from mer_builder.cli import main as builder_main

    from .commands import train_main
    from .features.cli import extract_main, memmap_main

    out = args.out_dir.expanduser().resolve()
    quiet = ["--quiet"] if args.quiet else []
    datasets = ["--datasets", *args.datasets] if args.datasets else []
    workers = ["--num_workers", str(args.num_workers)]
    raw, processed, pickles, features = out / "raw", out / "processed", out / "features_pkl", out / "features"

    if raw.is_dir():
        print(f"demo corpus: reusing {raw}", file=sys.stderr)
    elif code := _stage("mer build", builder_main, ["demo", "--out_dir", str(out), *datasets]):
        return code
    stages: list[tuple[str, Callable[..., int], list[str]]] = [
        ("mer build", builder_main, ["all", "--raw_dir", str(raw), "--out_dir", str(processed), *datasets, *workers]),
        ("mer extract", extract_main, ["--processed_dir", str(processed), "--out_dir", str(pickles), *workers]),
    ]
    for prog_name, main, stage_argv in stages:
        if code := _stage(prog_name, main, [*stage_argv, *quiet]):
            return code
    for group in GROUPS:
        if (pickles / group).is_dir():
            memmap_argv = ["--in_dir", str(pickles / group), "--out_dir", str(features / group), *quiet]
            if code := _stage("mer memmap", memmap_main, memmap_argv):
                return code
    train_argv = ["--config", CONFIG, "--run_name", RUN_NAME, "--resume"]
    train_argv += ["--set", f"data.features_dir={features}", f"experiment.output_dir={out / 'runs'}"]
    train_argv += [*(["--seeds", *map(str, args.seeds)] if args.seeds else []), *quiet]
    for override in args.overrides:
        train_argv += ["--set", override]
    return _stage("mer train", train_main, train_argv)
