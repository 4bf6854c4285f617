"""The one CLI convention of every mer tool: one-line errors, exit codes, logging flags, defaults in --help."""

from __future__ import annotations

import argparse
import ast
import logging
from pathlib import Path

import pytest

from mer_builder.cli_common import (
    InputError,
    RunFailure,
    UsageError,
    add_out_dir,
    cli_parser,
    run_command,
)
from mer_builder.parallel import default_num_workers

REPO = Path(__file__).resolve().parents[2]


def _run(body, *argv: str) -> int:
    parser = cli_parser("tool", "a tool")
    add_out_dir(parser, "where", required=False)
    return run_command(parser, list(argv), body, expected=(ValueError,))


def _raise(exc: BaseException):
    def body(args):
        raise exc

    return body


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (InputError("data/x.csv: expected a header row\n  got none"), 2),
        (FileNotFoundError("data/x.csv: not found"), 2),
        (FileExistsError("out/: exists"), 2),
        (RunFailure("3 of 4 downloads failed"), 1),
        (ValueError("a decoder said no"), 1),  # listed as expected by this command
    ],
)
def test_expected_failures_end_in_one_error_line_and_their_exit_code(capsys, exc, code):
    assert _run(_raise(exc)) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert " ".join(str(exc).split()) in err


def test_debug_shows_the_traceback_and_a_bug_is_never_hidden(capsys):
    assert _run(_raise(InputError("bad input")), "--debug") == 2
    assert "Traceback" in capsys.readouterr().err
    with pytest.raises(KeyError):
        _run(_raise(KeyError("a bug")))


def test_usage_errors_and_help_exit_like_argparse(capsys):
    assert _run(_raise(UsageError("--a goes with --b"))) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: tool") and "tool: error: --a goes with --b" in err
    assert _run(lambda args: 0, "--frobnicate") == 2
    assert _run(lambda args: 0, "--help") == 0
    assert _run(_raise(KeyboardInterrupt())) == 130


def test_out_dir_keeps_the_old_name_as_an_alias():
    seen = []
    assert _run(lambda args: seen.append(args.out_dir), "--output_dir", "somewhere") == 0
    assert seen == [Path("somewhere")]


def test_quiet_and_verbose_set_the_level_of_the_library_loggers(capsys):
    def body(args):
        logging.getLogger("mer.something").info("an info line")
        logging.getLogger("mer_builder.other").debug("a debug line")
        logging.getLogger("mer.something").warning("a warning line")

    _run(body)
    err = capsys.readouterr().err
    assert "an info line" in err and "debug line" not in err and "warning: a warning line" in err
    _run(body, "--quiet")
    err = capsys.readouterr().err
    assert "info line" not in err and "warning: a warning line" in err
    _run(body, "--verbose")
    assert "a debug line" in capsys.readouterr().err


def _parsers() -> dict[str, argparse.ArgumentParser]:
    from mer.commands import evaluate_parser, train_parser
    from mer.demo import demo_parser
    from mer.features.cli import extract_hf_parser, extract_parser, memmap_parser
    from mer.prediction.cli import predict_parser
    from mer_builder.cli import build_parser

    parsers = {
        "train": train_parser(),
        "evaluate": evaluate_parser(),
        "predict": predict_parser(),
        "demo": demo_parser(),
        "extract": extract_parser(),
        "extract-hf": extract_hf_parser(),
        "memmap": memmap_parser(),
    }
    builder = build_parser()
    (commands,) = [a for a in builder._actions if isinstance(a, argparse._SubParsersAction)]
    parsers.update({f"build {name}": sub for name, sub in commands.choices.items()})
    return parsers


def test_every_help_shows_every_default_and_the_same_worker_default():
    workers = {}
    for name, parser in _parsers().items():
        help_text = " ".join(parser.format_help().split())
        for action in parser._actions:
            if action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS):
                shown = parser._get_formatter()._get_help_string(action) % {"default": action.default, "prog": ""}
                assert "default" in shown.lower(), f"{name} {action.option_strings[0]}: default not shown"
            if "--num_workers" in action.option_strings:
                workers[name] = action.default
        for flag in ("--quiet", "--verbose", "--debug"):
            assert flag in help_text, f"{name}: no {flag}"
    assert set(workers.values()) == {default_num_workers()}, workers
    assert {"build prepare", "build integrity", "extract", "extract-hf", "demo"} <= set(workers)


def test_library_code_logs_instead_of_printing():
    """print() belongs to the command-line modules; everything else reports through logging."""
    cli_modules = {"cli.py", "cli_common.py", "commands.py", "demo.py", "__main__.py"}
    offenders = []
    for root in (REPO / "mer", REPO / "mer_dataset_builder" / "src" / "mer_builder"):
        for path in root.rglob("*.py"):
            if path.name in cli_modules:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, offenders
