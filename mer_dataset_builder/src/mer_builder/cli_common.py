"""One convention for every command line of mer and its builder: flags, logging, errors, exit codes.

Every CLI (`mer ...`, `mer-builder`, the top-level scripts) builds its parser with `cli_parser`
and runs its body through `run_command`, which gives all of them the same behaviour:

* flags `--quiet` (warnings and errors only, no progress bars), `--verbose` (debug messages) and
  `--debug` (a traceback with every error); defaults shown in every `--help`;
* `--out_dir` for output folders (`add_out_dir`; the old `--output_dir` is kept as an alias) and
  one `--num_workers` default, the CPUs this process may use (`add_num_workers`);
* library code logs through `logging.getLogger(__name__)`; the CLI routes those messages to stderr
  (`configure_logging`) so stdout holds only results (tables, paths written);
* an expected failure ends with ONE line, `error: <file>: <what was expected>`, and an exit code:
  0 ok, 1 failed at run time (`RunFailure`), 2 invalid input or usage (`InputError`, argparse's
  usage errors, a missing or already existing file), 130 interrupted.

To make a failure reach the user this way, raise `InputError` or `RunFailure` (or subclass one:
`class ConfigError(InputError, ValueError)`), with a message that names the file and what was
expected. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, InputError, MerError, RunFailure, UsageError
from .fsutil import DISK_ERRNOS
from .parallel import default_num_workers

__all__ = [
    "CliParser", "InputError", "MerError", "RunFailure", "UsageError", "add_logging_flags", "add_num_workers",
    "add_out_dir", "cli_parser", "configure_logging", "exit_code_of", "run_command",
]  # fmt: skip
LOGGERS = ("mer", "mer_builder")

# Built-in exceptions that are the user's situation rather than a bug, with their exit codes.
BUILTIN_EXPECTED: tuple[tuple[type[BaseException], int], ...] = (
    (FileNotFoundError, EXIT_INVALID),
    (FileExistsError, EXIT_INVALID),
    (NotADirectoryError, EXIT_INVALID),
    (IsADirectoryError, EXIT_INVALID),
    (PermissionError, EXIT_FAILED),
)


class _HelpFormatter(argparse.HelpFormatter):
    """Appends `(default: X)` to every option whose help does not state its default already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default in (None, False, argparse.SUPPRESS)
            or default == []
            or not action.option_strings
        ):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list | tuple) else "%(default)s"
        return f"{text} (default: {shown})".strip()


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser that shows defaults and exits 2 on a usage error (argparse's own code)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def add_logging_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("messages")
    group.add_argument("--quiet", action="store_true", help="only warnings and errors; no progress bars")
    group.add_argument("--verbose", action="store_true", help="also debug messages")
    group.add_argument("--debug", action="store_true", help="show the traceback of an error")


def cli_parser(prog: str | None, description: str, epilog: str | None = None, logging_flags: bool = True) -> CliParser:
    """The parser every mer command starts from: defaults in --help, and --quiet/--verbose/--debug."""
    parser = CliParser(prog=prog, description=description, epilog=epilog)
    if logging_flags:
        add_logging_flags(parser)
    return parser


def add_out_dir(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, help: str, required: bool = True, **kwargs
) -> None:
    """`--out_dir` (alias `--output_dir`, the older name) for a command's output folder."""
    parser.add_argument("--out_dir", "--output_dir", dest="out_dir", type=Path, required=required, help=help, **kwargs)


def add_num_workers(parser: argparse.ArgumentParser | argparse._ArgumentGroup, what: str = "parallel work") -> None:
    """`--num_workers`, defaulting everywhere to the CPUs this process may use."""
    parser.add_argument(
        "--num_workers",
        type=int,
        default=default_num_workers(),
        help=f"worker processes for {what} (default: the CPUs available, %(default)s here)",
    )


_LEVEL_PREFIX = {logging.WARNING: "warning: ", logging.ERROR: "error: ", logging.CRITICAL: "error: "}


class _Handler(logging.Handler):
    """Writes to stderr through tqdm when it is loaded, so messages do not break a progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = _LEVEL_PREFIX.get(record.levelno, "") + self.format(record)
            tqdm = sys.modules.get("tqdm")
            if tqdm is not None:
                tqdm.tqdm.write(message, file=sys.stderr)
            else:
                print(message, file=sys.stderr)
        except Exception:
            self.handleError(record)


def configure_logging(quiet: bool = False, verbose: bool = False) -> None:
    """Route the `mer` and `mer_builder` loggers to stderr: INFO by default, WARNING with quiet, DEBUG with verbose."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if not isinstance(h, _Handler)]
        logger.addHandler(_Handler())
        logger.setLevel(level)


def is_disk_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (multi-line messages from libraries are joined)."""
    if is_disk_error(exc) and isinstance(exc, OSError) and exc.filename:
        return (
            f"{exc.filename}: cannot write it ({exc.strerror}); make room there (or choose another --out_dir) "
            "and run the same command again: what was finished is kept"
        )
    if isinstance(exc, OSError) and exc.filename and exc.strerror:  # not "[Errno 20] Not a directory: '/x'"
        target = f"{exc.filename} -> {exc.filename2}" if exc.filename2 else exc.filename
        return f"{target}: {exc.strerror}"
    return " ".join(str(exc).split()) or type(exc).__name__


def exit_code_of(exc: BaseException, expected: Sequence[type[BaseException]] = ()) -> int | None:
    """The exit code for an expected exception, None for a bug."""
    if isinstance(exc, MerError):
        return exc.exit_code
    if is_disk_error(exc):
        return EXIT_FAILED
    for kind, code in BUILTIN_EXPECTED:
        if isinstance(exc, kind):
            return code
    if isinstance(exc, tuple(expected)):
        return EXIT_FAILED
    return None


def run_command(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    body: Callable[[argparse.Namespace], int | None],
    expected: Sequence[type[BaseException]] = (),
) -> int:
    """Parse `argv`, configure logging, run `body(args)` and return its exit code, with the convention above.

    `expected` adds exception types that this command reports as runtime failures (exit 1).
    """
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error argparse already printed (2)
        return int(exc.code or 0) if isinstance(exc.code, int | None) else EXIT_INVALID
    configure_logging(getattr(args, "quiet", False), getattr(args, "verbose", False))
    try:
        return int(body(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_INVALID
    except Exception as exc:
        code = exit_code_of(exc, expected)
        if code is None:
            raise
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return code
