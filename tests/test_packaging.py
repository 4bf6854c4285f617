"""`pip install .` (not editable) gives a working mer: both packages, the configs, and the commands.

The wheel is built offline from a copy of this checkout's files (what a user's clone holds, so stray
folders like tests/ and bench/ are there to be wrongly swept in) and installed into a fresh venv that
sees the current environment's dependencies but not its (editable) mer.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILDER = REPO / "mer_dataset_builder"
COMMANDS = ("build", "extract", "extract-hf", "memmap", "train", "evaluate", "predict", "results", "demo")


def _checkout_copy(target: Path) -> Path:
    """The checkout's tracked and new (not ignored) files, copied to `target`."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: cannot tell the repository's files from local ones")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


def _pip(python: Path | str, *args: str, cwd: Path | None = None) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input", *args, "--no-index", "--no-deps"],
        capture_output=True, text=True, cwd=cwd, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return _checkout_copy(tmp_path_factory.mktemp("checkout"))


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _pip(sys.executable, "wheel", "--no-build-isolation", "--wheel-dir", str(dist), str(source))
    (built,) = dist.glob("mer-*.whl")
    return built


def _venv(folder: Path) -> Path:
    """A venv without pip whose site-packages also reads this environment's (dependencies, pip, setuptools);
    a .pth path line does not run that folder's own .pth files, so the editable mer stays out of it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(purelib) / "_outer_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return python


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)


def test_the_wheel_holds_both_packages_the_configs_and_the_commands_and_nothing_else(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    assert {name.split("/")[0] for name in names} == {"mer", "mer_builder", wheel.name.split("-py3")[0] + ".dist-info"}
    sources = {f"mer/{p.relative_to(REPO / 'mer').as_posix()}" for p in (REPO / "mer").rglob("*.py")}
    builder_src = BUILDER / "src" / "mer_builder"
    sources |= {f"mer_builder/{p.relative_to(builder_src).as_posix()}" for p in builder_src.rglob("*.py")}
    assert sources <= names, f"missing from the wheel: {sorted(sources - names)[:5]}"
    configs = {f"mer/configs/{p.name}" for p in (REPO / "configs").glob("*.yaml")}
    assert configs and configs <= names
    assert "mer = mer.cli:main" in scripts and "mer-builder = mer_builder.cli:main" in scripts


@pytest.mark.slow
def test_the_installed_wheel_runs_its_commands_and_the_demo_from_any_folder(wheel, tmp_path):
    python = _venv(tmp_path / "venv")
    _pip(python, "install", "--ignore-installed", str(wheel))
    bin_dir = python.parent
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    where = _run([str(python), "-c", "import mer, mer_builder; print(mer.__file__); print(mer_builder.__file__)"],
                 elsewhere)  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert all(Path(line).is_relative_to(tmp_path / "venv") for line in where.stdout.split())
    from_mer = _run([str(python), "-c", "from mer import Predictor; print(Predictor.__name__)"], elsewhere)
    assert from_mer.returncode == 0 and from_mer.stdout.strip() == "Predictor", from_mer.stderr

    for command in COMMANDS:
        helped = _run([str(bin_dir / "mer"), command, "--help"], elsewhere)
        assert helped.returncode == 0 and f"mer {command}" in helped.stdout, (command, helped.stderr)
    for builder in ([str(bin_dir / "mer-builder")], [str(python), "-m", "mer_builder"]):
        helped = _run([*builder, "--help"], elsewhere)
        assert helped.returncode == 0 and "prepare" in helped.stdout, helped.stderr

    demo = _run(
        [str(bin_dir / "mer"), "demo", "--out_dir", "demo", "--datasets", "ravdess", "--num_workers", "1",
         "--set", "training.epochs=2", "--set", "model.hidden_dim=16", "--quiet"],
        elsewhere,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr[-4000:]
    run = elsewhere / "demo" / "runs" / "baseline_at"
    saved = (run / "config_resolved.yaml").read_text(encoding="utf-8")
    assert "flexible_at" in saved and "epochs: 2" in saved  # the shipped config, found by name
    assert (run / "seed1" / "eval" / "testA" / "metrics_eval.json").is_file()
    assert "| baseline_at | pooled | pooled | testA |" in demo.stdout


@pytest.mark.slow
def test_the_builder_still_installs_alone_in_editable_mode(source, tmp_path):
    python = _venv(tmp_path / "venv")
    _pip(python, "install", "--ignore-installed", "--no-build-isolation", "--editable", str(source / BUILDER.name))
    ran = _run([str(python.parent / "mer-builder"), "--help"], tmp_path)
    assert ran.returncode == 0 and "prepare" in ran.stdout, ran.stderr
    found = _run([str(python), "-c", "import mer_builder, importlib.util as u; print(mer_builder.__file__); "
                  "print(u.find_spec('mer'))"], tmp_path)  # fmt: skip
    assert found.returncode == 0, found.stderr
    path, mer_spec = found.stdout.split()
    assert Path(path).is_relative_to(source / BUILDER.name) and mer_spec == "None"
