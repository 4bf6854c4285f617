"""Every command line ends an expected failure on one line naming the file (no traceback); `--debug` adds it.

The commands are discovered, not listed by hand: the console scripts of pyproject.toml, every `mer`
subcommand, every builder subcommand, and every Python script at the top level and in scripts/. Each
gets an input it must refuse (a path that does not exist, or a file where a folder belongs) and runs
in process through the same entry point the user types (`runpy` for the scripts and `-m`).
"""

from __future__ import annotations

import ast
import re
import runpy
import sys
from collections.abc import Callable

import pytest

from mer.cli import COMMANDS
from mer.cli import main as mer_main
from mer_builder.cli import build_parser
from tests.conftest import REPO_ROOT

REPO = REPO_ROOT

# For each command, arguments it must refuse; {missing} is a path that does not exist, {file} a regular
# file given where a folder belongs. The error line must name the missing path (else the file).
CASES: dict[str, list[str]] = {
    "build download": ["--datasets", "ravdess", "--raw_dir", "{file}/raw"],
    "build prepare": ["--datasets", "ravdess", "--raw_dir", "{missing}", "--out_dir", "{out}"],
    "build validate": ["--out_dir", "{missing}"],
    "build integrity": ["--out_dir", "{missing}"],
    "build all": [
        "--datasets",
        "ravdess",
        "--raw_dir",
        "{missing}",
        "--split_spec",
        "{missing}/s.yaml",
        "--out_dir",
        "{out}",
    ],
    "build demo": ["--datasets", "ravdess", "--out_dir", "{file}/demo"],
    "extract": ["--processed_dir", "{missing}", "--out_dir", "{out}"],
    "extract-hf": ["--processed_dir", "{missing}", "--out_dir", "{out}"],
    "memmap": ["--in_dir", "{missing}", "--out_dir", "{out}"],
    "train": ["--run_name", "r", "--out_dir", "{out}", "--set", "data.features_dir={missing}"],
    "finetune": ["--run_name", "r", "--out_dir", "{out}", "--set", "data.processed_dir={missing}"],
    "evaluate": ["--ckpt", "{missing}/best.pt", "--out_dir", "{out}"],
    "evaluate-finetuned": ["--ckpt", "{missing}/best.pt", "--out_dir", "{out}"],  # evaluate_hf_e2e.py
    "predict": ["--ckpt", "{missing}/best.pt", "{file}"],
    "reference": ["--ckpt", "{missing}/best.pt", "--out", "{out}/ref.pt"],
    "results": ["{missing}"],
    "cross-corpus": ["--run_name", "r", "--out_dir", "{out}", "--set", "data.features_dir={missing}"],
    "demo": ["--ckpt", "{missing}/best.pt"],
}
# A script whose function is no `mer` subcommand of its own: the case that covers it.
SCRIPT_CASES = {"evaluate_e2e_main": "evaluate-finetuned"}


def _builder_commands() -> list[str]:
    [subparsers] = [a for a in build_parser()._actions if a.dest == "command"]
    return list(subparsers.choices)


def _scripts() -> dict[str, str]:
    """Every top-level script (and scripts/*.py) that calls a command function -> that function's name."""
    found = {}
    for path in sorted([*REPO.glob("*.py"), *REPO.glob("scripts/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.names[0].name.endswith("main"):
                found[str(path.relative_to(REPO))] = node.names[0].name
    return found


def _case_of_function(function: str) -> str:
    if function in SCRIPT_CASES:
        return SCRIPT_CASES[function]
    [name] = [name for name, command in COMMANDS.items() if command.target.endswith(f":{function}")]
    return name


def _console_scripts() -> dict[str, str]:
    """[project.scripts] of pyproject.toml (read with a regex: tomllib is Python 3.11+)."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    [section] = re.findall(r"^\[project\.scripts\]\n(.*?)(?:^\[|\Z)", text, flags=re.M | re.S)
    return dict(re.findall(r'^([\w-]+)\s*=\s*"([\w.:]+)"', section, flags=re.M))


def _run_entry_point(target: str, argv: list[str]) -> int:
    module, _, function = target.partition(":")
    return __import__(module, fromlist=[function]).__dict__[function](argv)


def _exit_code(run: Callable[[], object]) -> int:
    """The code a `raise SystemExit(main())` script ends with."""
    with pytest.raises(SystemExit) as ended:
        run()
    return int(ended.value.code or 0)


def _invocations() -> list[tuple[str, str, Callable[[list[str]], int]]]:
    """(id, case, run(argv) -> exit code) for every way of starting every command."""
    found: list[tuple[str, str, Callable[[list[str]], int]]] = []
    for name in COMMANDS:
        if name != "build":
            found.append((f"mer {name}", name, lambda argv, name=name: mer_main([name, *argv])))
    for sub in _builder_commands():
        found.append((f"mer build {sub}", f"build {sub}", lambda argv, sub=sub: mer_main(["build", sub, *argv])))

    def as_module(argv: list[str]) -> int:
        sys.argv = ["mer_builder", "validate", *argv]
        return _exit_code(lambda: runpy.run_module("mer_builder", run_name="__main__", alter_sys=True))

    found.append(("python -m mer_builder validate", "build validate", as_module))
    for script, target in _console_scripts().items():
        if script != "mer":  # `mer` is every `mer X` above
            found.append((f"{script} validate", "build validate",
                          lambda argv, target=target: _run_entry_point(target, ["validate", *argv])))  # fmt: skip
    for script, function in _scripts().items():

        def as_script(argv: list[str], script: str = script) -> int:
            sys.argv = [str(REPO / script), *argv]
            return _exit_code(lambda: runpy.run_path(str(REPO / script), run_name="__main__"))

        found.append((script, _case_of_function(function), as_script))
    return found


INVOCATIONS = _invocations()


def test_every_command_and_script_has_a_case():
    """A new command or script fails here until it gets a case (and so the checks below)."""
    cases = {case for _, case, _ in INVOCATIONS}
    assert cases == set(CASES)
    assert {f"mer {name}" for name in COMMANDS if name != "build"} <= {i for i, _, _ in INVOCATIONS}
    assert set(_console_scripts()) == {"mer", "mer-builder"}
    assert len(_scripts()) >= 10  # the nine thin scripts at the top level and scripts/collect_results.py


@pytest.mark.parametrize(("case", "run"), [pytest.param(c, r, id=i) for i, c, r in INVOCATIONS])
def test_an_expected_failure_is_one_line_naming_the_path_and_debug_shows_the_traceback(
    case, run, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # the scripts set it; each test gets it back
    a_file = tmp_path / "a_file.wav"
    a_file.write_bytes(b"not a folder")
    paths = {"missing": tmp_path / "missing", "file": a_file, "out": tmp_path / "out"}
    argv = [arg.format(**paths) for arg in CASES[case]]
    named = str(paths["missing"] if any("{missing}" in arg for arg in CASES[case]) else paths["file"])

    code = run([*argv, "--quiet"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code in (1, 2), err
    assert len(lines) == 1, err
    # error: [CORPUS] <file>: <what>, or error: <config key>: <file> <what>
    assert re.match(rf"error: (\[\w+\] |[\w.]+: )?{re.escape(named)}\S*:? \w", lines[0]), err
    assert "Traceback" not in err

    assert run([*argv, "--quiet", "--debug"]) == code
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):"), err
    assert err.splitlines()[-1] == lines[0]
