"""A full disk: the run stops with one line naming the file it could not write (exit 1), keeps what it
finished, leaves no temporary file, and the same command resumes once there is room."""

import errno
import os
from pathlib import Path

import pytest

from mer.features.cli import extract_main
from mer_builder import fsutil
from mer_builder.manifest import MANIFEST_NAME, read_manifest

from .conftest import build, error_lines


@pytest.fixture
def disk_fills(monkeypatch):
    """`disk_fills(n)`: after n finished atomic writes, every write fails as on a full disk (ENOSPC, naming
    the file). Returns the files that were finished."""
    real = fsutil.os.replace
    finished: list[Path] = []

    def after(n: int) -> list[Path]:
        def replace(src, dst):
            if len(finished) >= n:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
            real(src, dst)
            finished.append(Path(dst))

        monkeypatch.setattr(fsutil.os, "replace", replace)
        return finished

    return after


def _stops_on_full_disk(captured, out: Path) -> None:
    [line] = error_lines(captured.err)
    assert line.startswith(f"error: {out}") and line.endswith(
        f": cannot write it ({os.strerror(errno.ENOSPC)}); make room there (or choose another --out_dir) "
        "and run the same command again: what was finished is kept"
    )
    assert "Traceback" not in captured.err
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # no half-written file is left behind


def test_the_extractor_stops_on_a_full_disk_and_resumes(built, tmp_path, disk_fills, capsys, monkeypatch):
    out = tmp_path / "F"
    argv = ["--processed_dir", str(built), "--out_dir", str(out), "--num_workers", "1", "--n_mfcc", "20", "--quiet"]
    finished = disk_fills(5)
    assert extract_main(argv) == 1
    _stops_on_full_disk(capsys.readouterr(), out)
    kept = {p: p.stat().st_mtime_ns for p in finished if p.suffix == ".pkl"}
    assert len(kept) == 5 and all(p.is_file() for p in kept)
    monkeypatch.undo()
    assert extract_main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # finished work is not redone
    assert len(list(out.rglob("*.pkl"))) == 24


def test_the_builder_stops_on_a_full_disk_and_resumes(ravdess_raw, tmp_path, disk_fills, capsys, monkeypatch):
    out = tmp_path / "out"
    finished = disk_fills(5)
    assert build(ravdess_raw, out) == 1
    _stops_on_full_disk(capsys.readouterr(), out)
    kept = {p: p.stat().st_mtime_ns for p in finished if p.suffix == ".wav"}
    assert kept and not (out / MANIFEST_NAME).exists()
    monkeypatch.undo()
    assert build(ravdess_raw, out) == 0
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert len(read_manifest(out / MANIFEST_NAME)) == 24
