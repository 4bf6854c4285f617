"""The kinds of expected failure, shared by the builder and mer: each CLI turns one into a one-line
`error: ...` and its exit code (see `mer_builder.cli_common`); anything else is a bug with a traceback.

Raise `InputError` when the user's input cannot work (a file, flag or config: exit code 2) and
`RunFailure` when acceptable inputs still led to a failed run (exit code 1). Module-specific errors
subclass one of them (`class ConfigError(InputError, ValueError)`), and their message names the file
and what was expected.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130


class MerError(Exception):
    """An expected failure: reported as one line `error: <message>`; `exit_code` says which kind."""

    exit_code = EXIT_FAILED


class InputError(MerError):
    """Invalid input or usage (a file, flag or config that cannot work): exit code 2."""

    exit_code = EXIT_INVALID


class RunFailure(MerError):
    """The inputs were acceptable but the run failed (a download, too many failed items): exit code 1."""

    exit_code = EXIT_FAILED


class UsageError(InputError):
    """A combination of flags that cannot work; printed with the usage line, like argparse's own errors."""
