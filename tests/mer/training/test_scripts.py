"""The driver scripts: bash and PowerShell twins call the same commands, and the bash ones run end to end."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPTS = REPO / "scripts"
TWINS = [
    ("lib/common.sh", "lib/common.ps1"),
    ("run_baseline_at.sh", "run_baseline_at.ps1"),
    ("run_loco.sh", "run_loco.ps1"),
]


SHARED_STEPS = {
    "parse_common_flags": "Read-CommonFlags",
    "prepare_features": "Prepare-Features",
    "train": "Train",
    "collect": "Collect",
}


def _python_commands(path: Path) -> list[tuple]:
    """In order: (target, flags, --set keys) of every `step python ...` line, and (function, literal
    arguments) of every call of a shared step, with the PowerShell names mapped to the bash ones."""
    commands: list[tuple] = []
    bash_name = {ps: sh for sh, ps in SHARED_STEPS.items()}
    for line in path.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words and words[0] in {**SHARED_STEPS, **bash_name} and not line.rstrip().endswith("{"):
            literals = tuple(w for w in words[1:] if not w.lstrip('"').startswith("$"))
            commands.append((bash_name.get(words[0], words[0]), literals))
            continue
        match = re.match(r"\s*(?:step|Step) python\s+(.*)", line)
        if not match:
            continue
        rest = match.group(1)
        module = re.match(r"-m (\S+) (\w+)", rest)
        target = f"{module.group(1)} {module.group(2)}" if module else Path(rest.split()[0].strip('"')).name
        flags = tuple(re.findall(r"(?<![\w-])--\w+", rest))
        keys = tuple(re.findall(r"\b([a-z_]+\.[a-z_.]+)=", rest))
        commands.append((target, flags, keys))
    return commands


def _cli_flags(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return set(re.findall(r'^\s*"?(--\w+)"?\)? ', text, flags=re.M)) | set(re.findall(r'^\s*"(--\w+)" \{', text, re.M))


def _all_flags(path: Path) -> set[str]:
    code = "\n".join(
        line for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")
    )
    return set(re.findall(r"(?<![\w-])--\w+", code))


def _usage(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    block = re.search(r"<<'TEXT'\n(.*?)\nTEXT", text, re.S) or re.search(r"@'\n(.*?)\n'@", text, re.S)
    return block.group(1).replace(".ps1", ".sh") if block else ""


@pytest.mark.parametrize(("bash", "powershell"), TWINS, ids=[b for b, _ in TWINS])
def test_powershell_twin_runs_the_same_python_commands_with_the_same_flags(bash, powershell):
    bash_commands, ps_commands = _python_commands(SCRIPTS / bash), _python_commands(SCRIPTS / powershell)
    assert bash_commands, f"no python steps found in {bash}"
    assert bash_commands == ps_commands
    assert _all_flags(SCRIPTS / bash) == _all_flags(SCRIPTS / powershell)
    assert _usage(SCRIPTS / bash) == _usage(SCRIPTS / powershell)


def test_twins_accept_the_same_options():
    bash, ps = _cli_flags(SCRIPTS / "lib/common.sh"), _cli_flags(SCRIPTS / "lib/common.ps1")
    assert "--demo" in bash and "--features_dir" in bash
    assert bash == ps


def test_the_commands_the_scripts_call_exist_with_those_flags():
    """Every flag a driver passes to train.py / evaluate.py / collect_results.py is one they accept."""
    from mer.commands import evaluate_parser, train_parser

    accepted = {
        "train.py": {a for action in train_parser()._actions for a in action.option_strings},
        "evaluate.py": {a for action in evaluate_parser()._actions for a in action.option_strings},
        "collect_results.py": {"--md", "--csv"},
    }
    for name in ("lib/common.sh", "run_baseline_at.sh", "run_loco.sh"):
        for target, *rest in _python_commands(SCRIPTS / name):
            flags = rest[0]
            if target in accepted:
                assert set(flags) <= accepted[target], (
                    f"{name}: {target} does not accept {set(flags) - accepted[target]}"
                )


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the script must find the repo itself
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        ["bash", str(SCRIPTS / script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800
    )


@pytest.mark.slow
def test_baseline_script_trains_evaluates_and_tabulates_existing_features(synth, tmp_path):
    features = synth.write_root(tmp_path / "features", per_group=30)
    sets = ["--set", "training.epochs=3", "--set", "model.hidden_dim=32", "--set", "training.lr=0.005"]
    result = _run(
        "run_baseline_at.sh", "--features_dir", "features", "--out_dir", "out", *sets, "--quiet", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "out" / "runs" / "baseline_at"
    for group in ("testA", "testB"):
        metrics = json.loads((run / "seed1" / "eval" / group / "metrics_eval.json").read_text())
        assert metrics["eval_dir"] == str(features / group) and metrics["uar"] > 0.5
    assert "| baseline_at | pooled | pooled | testA |" in result.stdout
    assert (run / "results.md").read_text() in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features", "out"]  # nothing written elsewhere

    again = _run("run_baseline_at.sh", "--features_dir", "features", "--out_dir", "out", *sets, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed after epoch 3" in again.stderr  # a re-run reuses the finished training (progress: stderr)


@pytest.mark.slow
def test_loco_script_holds_out_one_corpus(synth, tmp_path):
    synth.write_root(tmp_path / "features", per_group=30)
    result = _run(
        "run_loco.sh", "--features_dir", "features", "--out_dir", "out", "--holdout", "MELD",
        "--set", "training.epochs=2", "--set", "model.hidden_dim=32", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out/runs/loco/loco_MELD/seed1/eval/MELD/metrics_eval.json").is_file()
    assert "| loco | loco | loco_MELD | MELD |" in result.stdout


def test_scripts_refuse_bad_invocations(tmp_path):
    result = _run("run_baseline_at.sh", cwd=tmp_path)
    assert result.returncode == 2 and "give --demo, --raw_dir DIR" in result.stderr
    result = _run("run_baseline_at.sh", "--demo", "--frobnicate", cwd=tmp_path)
    assert result.returncode == 2 and "unknown option --frobnicate" in result.stderr
    result = _run("run_baseline_at.sh", "--features_dir", "x", "--holdout", "MELD", cwd=tmp_path)
    assert result.returncode == 2 and "--holdout belongs to run_loco.sh" in result.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    missing = [name for name in ("extract_at_features.py", "build_memmap_features.py") if not (REPO / name).is_file()]
    if missing or shutil.which("bash") is None:
        pytest.skip(f"the feature extractor is not in this checkout yet ({missing})")
    result = _run("run_baseline_at.sh", "--demo", "--out_dir", "demo", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-5000:]
    run = tmp_path / "demo" / "runs" / "baseline_at"
    for group in ("testA", "testB"):
        metrics = json.loads((run / "seed1" / "eval" / group / "metrics_eval.json").read_text())
        assert metrics["n"] > 0 and metrics["uar"] > 1 / 7  # the demo's emotions are audible: above chance
    assert "| baseline_at | pooled | pooled | testA |" in result.stdout
