"""`python -m mer_builder`: fetch, prepare and check the corpora (built-in or from a card), or write the synthetic demo.

Exit codes (the convention of every mer tool, `mer_builder.cli_common`): 0 success; 2 invalid input
or usage (the manifest failed `validate` or `integrity`, a corpus folder not in its native layout, a
bad flag); 1 failed at run time (a download, a broken input during `prepare`), each with a one-line
reason on stderr naming the corpus and the file. `all` returns the code of the first stage that failed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import recipes
from .api import STAGES, BuildResult, build
from .cli_common import CliParser, add_logging_flags, add_num_workers, run_command
from .errors import EXIT_OK, InputError
from .labels import POLICY_CHOICES, LabelPolicy
from .manifest import CORPORA, CORPUS_ALIASES, MANIFEST_NAME
from .normalise import AUDIO_FAILURE_POLICIES
from .parallel import BACKENDS
from .pipeline import REPORT_NAME, STATS_NAME, CorpusOutcome, OutputDirError
from .recipes import canonical_name
from .recipes.card import CorpusCard, load_card
from .recipes.common import CorpusError
from .split_spec import load_split_spec

RUNTIME_ERRORS = (OSError, ValueError)  # beyond the InputError/RunFailure kinds: a disk or decoder problem
MAX_LISTED_WARNINGS = 10
AUDIO_COUNT_NAMES = {"normalised": "normalised", "reused": "reused (unchanged since the last run)",
                     "replaced_with_silence": "replaced with silence", "dropped": "dropped (bad audio)",
                     "failed": "failed",
                     "clipped": "clipped (samples above full scale; noted on the record)"}  # fmt: skip


def _dataset_names(value: str) -> list[str | CorpusCard]:
    """Corpus names (aliases allowed), or `key=path/to/card.yaml` for a corpus described by a card."""
    try:
        return [
            load_card(name.split("=", 1)[1], name.split("=", 1)[0]) if "=" in name else canonical_name(name)
            for name in value.split(",")
            if name
        ]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(" ".join(str(exc).split())) from None


def build_parser(prog: str = "python -m mer_builder") -> argparse.ArgumentParser:
    parser = CliParser(
        prog=prog,
        description="Fetch, prepare and check emotion corpora (built-in or from a corpus card) as one manifest, "
        "or write the synthetic demo.",
        epilog="Exit codes: 0 success, 2 invalid input or usage (validate/integrity failed), 1 failed at run time. "
        f"`{prog} COMMAND --help` describes each command.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    quiet = CliParser(add_help=False)
    add_logging_flags(quiet)
    datasets = CliParser(add_help=False)
    datasets.add_argument(
        "--datasets", nargs="+", type=_dataset_names, metavar="NAME",
        help=f"corpora to process, any of {' '.join(CORPORA)} (alias: {', '.join(CORPUS_ALIASES)}), or your own "
        "as KEY=path/to/card.yaml (a corpus card, see docs/corpus_cards.md); "
        "space- or comma-separated; default: prepare/all every corpus found under --raw_dir, "
        "download all, validate/integrity all in the manifest",
    )  # fmt: skip
    raw = CliParser(add_help=False)
    raw.add_argument(
        "--raw_dir", type=Path, help="folder holding each corpus in its native layout (not needed for cards alone)"
    )
    out = CliParser(add_help=False)
    out.add_argument("--out_dir", type=Path, required=True,
                     help="output folder, used exactly as given: new, empty, or an earlier build's")  # fmt: skip
    failure = CliParser(add_help=False)
    failure.add_argument("--continue_on_error", action="store_true",
                         help="record a broken input or corpus in the report and go on with the rest "
                         "(still exit 1 at the end)")  # fmt: skip
    workers = CliParser(add_help=False)
    add_num_workers(
        workers, "audio; with --backend dask or ray and no cluster address, the size of the local cluster started"
    )
    engine = CliParser(add_help=False)
    engine.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="where audio tasks run: local processes, a Dask cluster or a Ray cluster; dask and ray "
        "need --raw_dir and --out_dir on a filesystem every worker shares",
    )
    engine.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler to use with --backend dask (default: DASK_SCHEDULER_ADDRESS, else a "
                        "LocalCluster of --num_workers processes); Ray reads RAY_ADDRESS")  # fmt: skip
    build = CliParser(add_help=False)
    for name, choices in POLICY_CHOICES.items():
        corpus, label = name.split("_", 1)
        build.add_argument(f"--{name}", choices=sorted(choices), default="drop",
                           help=f"{CORPORA[corpus]} '{label}' utterances (outside the 7 emotions): "
                           f"{' or '.join(sorted(choices))} (default: %(default)s)")  # fmt: skip
    build.add_argument(
        "--audio_failure", choices=AUDIO_FAILURE_POLICIES, default="drop",
        help="missing or undecodable audio: leave the utterance out, warn and count it in the build report (drop), "
        "stop naming the file (error), or write silence of the known duration, else 1 s, with a note on the "
        "record (replace_with_silence); default: %(default)s",
    )  # fmt: skip
    build.add_argument("--seed", type=int, default=0, help="seed of the speaker split hash (default: %(default)s)")
    build.add_argument("--split_ratios", metavar="TRAIN,VAL,TEST",
                       help="speaker shares of the splits for every corpus (default: 0.8,0.1,0.1)")  # fmt: skip
    build.add_argument("--split_spec", type=Path, metavar="SPEC.yaml",
                       help="per corpus: ratios, test/val speaker lists or folds, and the single-speaker policy "
                       "(docs/splits.md); kept in the manifest (split_by, fold) and the build report")  # fmt: skip
    build.add_argument(
        "--transcribe_missing", action="store_true",
        help="transcribe utterances that have no transcript with Whisper (marked transcript_source: whisper in the "
        "manifest); needs the mer package and its offline extras",
    )  # fmt: skip
    build.add_argument("--whisper", metavar="MODEL",
                       help="the Whisper model of --transcribe_missing, packaged:whisper-tiny.en (default; English), "
                       "a CTranslate2 Whisper folder, or a faster-whisper model name for other languages")  # fmt: skip
    build.add_argument("--force", action="store_true", help="normalise all audio again, even files already done, "
                       "and rebuild a corpus built in --out_dir with other label policies or --seed")  # fmt: skip

    def add(name: str, run, help_text: str, parents: list[CliParser]) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            parents=[*parents, quiet],
            help=help_text,
            description=help_text,
            formatter_class=parser.formatter_class,
        )
        sub.set_defaults(run=run)
        return sub

    download = add("download", _cmd_download, "download the corpora that may be fetched; print placement "
                   "instructions for gated ones; skip corpora already under --raw_dir", [datasets, raw])  # fmt: skip
    download.add_argument("--force", action="store_true", help="download again even if the corpus is present")
    add("prepare", _cmd_prepare, "normalise audio, assign splits, write the manifest, stats and build report",
        [datasets, raw, out, build, workers, engine, failure])  # fmt: skip
    add("validate", _cmd_validate, "check the manifest (schema, labels, transcripts, ids, speaker-disjoint splits, "
        "audio present); exit 2 on any failure", [datasets, out])  # fmt: skip
    add("integrity", _cmd_integrity, "decode every audio file and check rate, channels, format and duration; "
        "exit 2 on any failure", [datasets, out, workers])  # fmt: skip
    add("all", _cmd_all, "download (where possible) -> prepare -> validate -> integrity",
        [datasets, raw, out, build, workers, engine, failure])  # fmt: skip
    demo = add("demo", _cmd_demo, "write a small synthetic corpus for each corpus in its exact native layout "
               "under OUT_DIR/raw", [datasets])  # fmt: skip
    demo.add_argument("--out_dir", type=Path, required=True, help="the demo goes to OUT_DIR/raw")
    demo.add_argument("--seed", type=int, default=0, help="seed of the synthetic audio (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """The builder's command line (`mer build`, `mer-builder`, `python -m mer_builder`); returns the exit code."""
    if prog is None:
        prog = "mer-builder" if Path(sys.argv[0]).name == "mer-builder" else "python -m mer_builder"
    return run_command(build_parser(prog), argv, _run, expected=RUNTIME_ERRORS)


def _run(args: argparse.Namespace) -> int:
    if args.datasets is not None:
        args.datasets = [name for group in args.datasets for name in group]
    return args.run(args)


def _names(args: argparse.Namespace) -> list[str]:
    return args.datasets or list(CORPORA)


def _report_failures(failures: list[CorpusError], what: str, debug: bool = False) -> None:
    """One line per corpus that failed (its traceback first with --debug), then how many failed."""
    for failure in failures:
        if debug:
            traceback.print_exception(failure)
        print(f"error: {' '.join(str(failure).split())}", file=sys.stderr)
    if len(failures) > 1:
        print(f"error: {len(failures)} corpora {what}: {', '.join(f.corpus for f in failures)}", file=sys.stderr)


def _build(args: argparse.Namespace, stages: tuple[str, ...]) -> BuildResult:
    """`mer_builder.api.build` with this command's flags (commands without a flag get the default)."""
    options = {k: getattr(args, k) for k in ("audio_failure", "num_workers", "backend", "scheduler", "seed", "force",
                                             "continue_on_error", "transcribe_missing", "whisper")
               if hasattr(args, k)}  # fmt: skip
    if hasattr(args, "ravdess_calm"):
        options["policy"] = LabelPolicy(**{k: getattr(args, k) for k in POLICY_CHOICES})
    if hasattr(args, "split_spec"):
        options["split_spec"] = load_split_spec(args.split_spec, args.split_ratios)
    raw_dir, out_dir = getattr(args, "raw_dir", None), getattr(args, "out_dir", None)
    return build(raw_dir, out_dir, args.datasets, stages=stages, quiet=args.quiet, **options)


def _report(result: BuildResult, debug: bool = False) -> int:
    """Print what `build` did (per-corpus lines, files written, the check tables); returns the exit code."""
    if result.absent:
        print(f"not under {result.raw_dir}, skipped: {', '.join(result.absent)}")
    _report_failures(result.unavailable, "unavailable", debug)
    if result.outcomes:
        _report_prepare(result)
    for check in result.checks:
        print(f"\n{check.check} {result.manifest}")
        print(check.summary())
    return result.exit_code


def _cmd_download(args: argparse.Namespace) -> int:
    return _report(_build(args, ("download",)), args.debug)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def _describe(outcome: CorpusOutcome) -> str:
    report = outcome.report
    if outcome.failed:
        return f"{outcome.corpus}: FAILED: {' '.join(str(report['error']).split())} ({report.get('file')})"
    splits = ", ".join(f"{split} {n}" for split, n in report["splits"].items())
    audio = ", ".join(f"{n} {AUDIO_COUNT_NAMES[what]}" for what, n in report["audio"].items() if n)
    line = f"{outcome.corpus}: {report['records']} records ({splits}); audio: {audio or 'none'}"
    if report.get("note"):
        line += f"; note: {report['note']}"
    if report["drops"]:
        line += f"; {len(report['drops'])} left out by label policy or layout"
    if report["problems"]:
        line += f"; {_plural(len(report['problems']), 'problem')}"
    return line


def _warn_audio_failures(outcomes: list[CorpusOutcome], report_path: Path) -> None:
    """Name the files whose audio was dropped or replaced: the run goes on, but never silently."""
    kept = [f for o in outcomes for f in o.report["audio_failures"] if f["action"] != "failed"]
    for failure in kept[:MAX_LISTED_WARNINGS]:
        action = failure["action"].replace("_", " ")
        print(f"warning: [{failure['dataset']}] {failure['file']}: {failure['reason']} ({action})", file=sys.stderr)
    if len(kept) > MAX_LISTED_WARNINGS:
        print(f"warning: ... and {len(kept) - MAX_LISTED_WARNINGS} more, all in {report_path}", file=sys.stderr)


def _report_prepare(result: BuildResult) -> None:
    for outcome in result.outcomes:
        print(_describe(outcome))
    out = result.out_dir or Path()
    print(f"wrote {out / MANIFEST_NAME}, {out / STATS_NAME}, {out / REPORT_NAME}")
    _warn_audio_failures(result.outcomes, out / REPORT_NAME)
    for outcome in result.troubled:
        first = outcome.report if outcome.failed else outcome.problems[0]
        detail = first.get("error") or first.get("reason")
        count = 1 if outcome.failed else len(outcome.problems)
        print(f"error: [{outcome.corpus}] {first.get('file')}: {' '.join(str(detail).split())} "
              f"({_plural(count, 'problem')}; all in {out / REPORT_NAME})", file=sys.stderr)  # fmt: skip


def _cmd_prepare(args: argparse.Namespace) -> int:
    return _report(_build(args, ("prepare",)), args.debug)


def _cmd_validate(args: argparse.Namespace) -> int:
    return _report(_build(args, ("validate",)), args.debug)


def _cmd_integrity(args: argparse.Namespace) -> int:
    return _report(_build(args, ("integrity",)), args.debug)


def _cmd_all(args: argparse.Namespace) -> int:
    return _report(_build(args, STAGES), args.debug)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import write_demo

    cards = [name.CARD for name in args.datasets or () if isinstance(name, CorpusCard)]
    if cards:
        raise InputError(f"the demo writes the built-in corpora only; {cards[0]} is a corpus card")
    names = _names(args)
    raw_dir = args.out_dir / "raw"
    for name in names:
        target = raw_dir / recipes.get_recipe(name).FOLDER
        if target.exists():
            raise OutputDirError(f"{target}: already exists; the demo never writes over files: use another --out_dir")
    write_demo(args.out_dir, names, args.seed)
    print(f"wrote the demo corpora ({', '.join(CORPORA[n] for n in names)}) under {raw_dir}")
    command = ["python", "-m", "mer_builder", "all", "--raw_dir", str(raw_dir), "--out_dir",
               str(args.out_dir / "processed")]  # fmt: skip
    if args.datasets:
        command += ["--datasets", *names]
    print(f"next: {shlex.join(command)}")
    return EXIT_OK
