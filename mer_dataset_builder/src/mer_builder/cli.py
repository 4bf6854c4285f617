"""`python -m mer_builder`: fetch, prepare and check the seven corpora, or write the synthetic demo.

Exit codes: 0 success; 2 the manifest failed `validate` or `integrity`; 1 any other error, with a
one-line reason on stderr naming the corpus and the file. `all` returns the code of the first
stage that failed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from . import recipes
from .audio import AudioDecodeError
from .download import DownloadError, quiet_downloads
from .labels import POLICY_CHOICES, LabelPolicy
from .manifest import CORPORA, CORPUS_ALIASES, MANIFEST_NAME
from .normalise import AUDIO_FAILURE_POLICIES
from .parallel import BACKENDS, ExecutorError, default_num_workers
from .pipeline import REPORT_NAME, STATS_NAME, BuildOptions, CorpusOutcome, OutputDirError, prepare
from .recipes import canonical_name
from .recipes.common import CorpusError, CorpusLayoutError, ManualDownloadRequired
from .validate import CheckResult, integrity, validate

EXIT_OK, EXIT_ERROR, EXIT_INVALID = 0, 1, 2
USER_ERRORS = (CorpusError, AudioDecodeError, DownloadError, OutputDirError, ExecutorError, OSError, ValueError)
MAX_LISTED_WARNINGS = 10
AUDIO_COUNT_NAMES = {"normalised": "normalised", "reused": "reused (unchanged since the last run)",
                     "replaced_with_silence": "replaced with silence", "dropped": "dropped (bad audio)",
                     "failed": "failed",
                     "clipped": "clipped (samples above full scale; noted on the record)"}  # fmt: skip


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with 1 ("other error"): 2 is reserved for a manifest that failed validation."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _dataset_names(value: str) -> list[str]:
    try:
        return [canonical_name(name) for name in value.split(",") if name]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m mer_builder",
        description="Fetch, prepare and check seven emotion corpora as one manifest, or write the synthetic demo.",
        epilog="Exit codes: 0 success, 2 validate/integrity failed, 1 any other error. "
        "`python -m mer_builder COMMAND --help` describes each command.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    quiet = _Parser(add_help=False)
    quiet.add_argument("--quiet", action="store_true", help="no progress bars")
    datasets = _Parser(add_help=False)
    datasets.add_argument(
        "--datasets", nargs="+", type=_dataset_names, metavar="NAME",
        help=f"corpora to process, any of {' '.join(CORPORA)} (alias: {', '.join(CORPUS_ALIASES)}); "
        "space- or comma-separated; default: all seven (validate/integrity: all in the manifest)",
    )  # fmt: skip
    raw = _Parser(add_help=False)
    raw.add_argument("--raw_dir", type=Path, required=True, help="folder holding each corpus in its native layout")
    out = _Parser(add_help=False)
    out.add_argument("--out_dir", type=Path, required=True,
                     help="output folder, used exactly as given: new, empty, or an earlier build's")  # fmt: skip
    failure = _Parser(add_help=False)
    failure.add_argument("--continue_on_error", action="store_true",
                         help="record a broken input or corpus in the report and go on with the rest "
                         "(still exit 1 at the end)")  # fmt: skip
    workers = _Parser(add_help=False)
    workers.add_argument("--num_workers", type=int, default=default_num_workers(),
                         help="worker processes for audio; with --backend dask or ray and no cluster address, "
                         "the size of the local cluster started (default: the CPUs here, %(default)s)")  # fmt: skip
    engine = _Parser(add_help=False)
    engine.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="where audio tasks run: local processes, a Dask cluster or a Ray cluster; dask and ray "
        "need --raw_dir and --out_dir on a filesystem every worker shares (default: %(default)s)",
    )
    engine.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler to use with --backend dask (default: DASK_SCHEDULER_ADDRESS, else a "
                        "LocalCluster of --num_workers processes); Ray reads RAY_ADDRESS")  # fmt: skip
    build = _Parser(add_help=False)
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
    build.add_argument("--force", action="store_true", help="normalise all audio again, even files already done")

    def add(name: str, run, help_text: str, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[*parents, quiet], help=help_text, description=help_text)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return int(exc.code or 0)
    if args.datasets is not None:
        args.datasets = list(dict.fromkeys(name for group in args.datasets for name in group))
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_ERROR


def _names(args: argparse.Namespace) -> list[str]:
    return args.datasets or list(CORPORA)


def _download_stage(names: list[str], raw_dir: Path, force: bool, quiet: bool) -> tuple[list[str], list[CorpusError]]:
    """(corpora available under raw_dir, failures); every corpus is tried so all instructions show at once."""
    available, failures = [], []
    for name in names:
        recipe = recipes.get_recipe(name)
        if not force:
            try:
                print(f"{recipe.CORPUS}: present at {recipe.locate(raw_dir)}")
                available.append(name)
                continue
            except CorpusLayoutError as exc:
                if exc.found_at is not None:  # it is here, misplaced: moving it fixes that, a download does not
                    failures.append(exc)
                    continue
                print(f"{recipe.CORPUS}: not found ({exc.reason})")
        try:
            with quiet_downloads(quiet):
                path = recipe.download(raw_dir, force=force)
            print(f"{recipe.CORPUS}: downloaded to {path}")
            available.append(name)
        except ManualDownloadRequired as exc:
            print(f"{recipe.CORPUS} cannot be downloaded by a script. {exc.reason}", file=sys.stderr)
            failures.append(exc)
        except DownloadError as exc:
            failures.append(CorpusError(recipe.CORPUS, None, str(exc)))
        except CorpusError as exc:
            failures.append(exc)
    return available, failures


def _report_failures(failures: list[CorpusError], what: str) -> None:
    for failure in failures:
        print(f"error: {' '.join(str(failure).split())}", file=sys.stderr)
    if len(failures) > 1:
        print(f"error: {len(failures)} corpora {what}: {', '.join(f.corpus for f in failures)}", file=sys.stderr)


def _cmd_download(args: argparse.Namespace) -> int:
    _, failures = _download_stage(_names(args), args.raw_dir, args.force, args.quiet)
    _report_failures(failures, "unavailable")
    return EXIT_ERROR if failures else EXIT_OK


def _build_options(args: argparse.Namespace) -> BuildOptions:
    return BuildOptions(
        raw_dir=args.raw_dir, out_dir=args.out_dir, policy=LabelPolicy(**{k: getattr(args, k) for k in POLICY_CHOICES}),
        audio_failure=args.audio_failure, num_workers=args.num_workers, backend=args.backend,
        scheduler=args.scheduler, seed=args.seed, force=args.force,
        continue_on_error=args.continue_on_error, quiet=args.quiet,
    )  # fmt: skip


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def _describe(outcome: CorpusOutcome) -> str:
    report = outcome.report
    if outcome.failed:
        return f"{outcome.corpus}: FAILED: {' '.join(str(report['error']).split())} ({report.get('file')})"
    splits = ", ".join(f"{split} {n}" for split, n in report["splits"].items())
    audio = ", ".join(f"{n} {AUDIO_COUNT_NAMES[what]}" for what, n in report["audio"].items() if n)
    line = f"{outcome.corpus}: {report['records']} records ({splits}); audio: {audio or 'none'}"
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


def _prepare_stage(names: list[str], args: argparse.Namespace) -> tuple[int, list[str]]:
    """(exit code, corpora prepared without failing)."""
    outcomes = prepare(names, _build_options(args))
    for outcome in outcomes:
        print(_describe(outcome))
    out = args.out_dir
    print(f"wrote {out / MANIFEST_NAME}, {out / STATS_NAME}, {out / REPORT_NAME}")
    _warn_audio_failures(outcomes, out / REPORT_NAME)
    troubled = [o for o in outcomes if o.failed or o.problems]
    for outcome in troubled:
        first = outcome.report if outcome.failed else outcome.problems[0]
        detail = first.get("error") or first.get("reason")
        count = 1 if outcome.failed else len(outcome.problems)
        print(f"error: [{outcome.corpus}] {first.get('file')}: {' '.join(str(detail).split())} "
              f"({_plural(count, 'problem')}; all in {out / REPORT_NAME})", file=sys.stderr)  # fmt: skip
    return (EXIT_ERROR if troubled else EXIT_OK), [o.corpus for o in outcomes if not o.failed]


def _cmd_prepare(args: argparse.Namespace) -> int:
    return _prepare_stage(_names(args), args)[0]


def _print_check(result: CheckResult, out_dir: Path) -> int:
    print(f"\n{result.check} {out_dir / MANIFEST_NAME}")
    print(result.summary())
    return EXIT_OK if result.ok else EXIT_INVALID


def _display_names(args: argparse.Namespace) -> list[str] | None:
    return None if args.datasets is None else [CORPORA[name] for name in args.datasets]


def _cmd_validate(args: argparse.Namespace) -> int:
    return _print_check(validate(args.out_dir, _display_names(args)), args.out_dir)


def _cmd_integrity(args: argparse.Namespace) -> int:
    return _print_check(integrity(args.out_dir, _display_names(args), args.num_workers, args.quiet), args.out_dir)


def _cmd_all(args: argparse.Namespace) -> int:
    available, failures = _download_stage(_names(args), args.raw_dir, False, args.quiet)
    _report_failures(failures, "unavailable")
    if (failures and not args.continue_on_error) or not available:
        return EXIT_ERROR
    prepared_code, prepared = _prepare_stage(available, args)
    codes = [EXIT_ERROR if failures else EXIT_OK, prepared_code]
    if prepared:
        codes.append(_print_check(validate(args.out_dir, prepared), args.out_dir))
        codes.append(_print_check(integrity(args.out_dir, prepared, args.num_workers, args.quiet), args.out_dir))
    return next((code for code in codes if code), EXIT_OK)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import write_demo

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
