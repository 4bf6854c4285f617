"""The `mer` command: every stage is a subcommand, each with its own --help; usage errors exit 2."""

import subprocess
import sys

import pytest

from mer.cli import COMMANDS, main


def test_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("build", "extract", "extract-hf", "memmap", "train", "evaluate", "predict", "results", "demo"):
        assert f"\n  {name} " in out and name in COMMANDS


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_subcommand_has_help_under_its_own_name(capsys, name):
    try:
        code = main([name, "--help"])
    except SystemExit as exited:  # argparse's --help
        code = exited.code
    assert code == 0 and f"usage: mer {name}" in capsys.readouterr().out


def test_no_command_or_an_unknown_one_is_a_usage_error(capsys):
    assert main([]) == 2 and "usage: mer COMMAND" in capsys.readouterr().err
    assert main(["trian"]) == 2 and "unknown command 'trian'" in capsys.readouterr().err


def test_python_dash_m_mer_is_the_same_command():
    done = subprocess.run([sys.executable, "-m", "mer", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("mer ")
