"""Interrupted runs: a process killed outright leaves no traceback storm, no stray process, and resumes."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import build, write_ravdess

REPO = Path(__file__).resolve().parents[3]


def _kill_when(proc: subprocess.Popen, ready, timeout_s: float = 60) -> None:
    """kill -9 the process as soon as `ready()` holds (it is then mid-run)."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert proc.poll() is None, f"finished before it could be interrupted: {proc.communicate()}"
        assert time.monotonic() < deadline, "never got going"
        time.sleep(0.005)
    proc.kill()


def _stderr_after_kill(proc: subprocess.Popen) -> str:
    """Everything written to stderr until the last process holding it (a worker, too) has exited."""
    try:
        return proc.communicate(timeout=60)[1]
    finally:  # the run's own process group: the test started it, the test ends whatever is left of it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_builder_killed_mid_run_leaves_quietly_and_resumes_to_the_same_manifest(tmp_path):
    raw = write_ravdess(tmp_path / "raw", actors=range(1, 13), emotions=("01", "03", "04", "05"), seconds=1.5)
    out = tmp_path / "out"
    journal = out / "corpora" / "RAVDESS.audio.jsonl"
    argv = [sys.executable, "-m", "mer_builder", "prepare", "--datasets", "ravdess", "--raw_dir", str(raw),
            "--out_dir", str(out), "--num_workers", "2", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=REPO, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _kill_when(proc, lambda: journal.is_file() and journal.stat().st_size > 0)
    err = _stderr_after_kill(proc)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    done = journal.read_text(encoding="utf-8").count("\n")
    assert 0 < done < 48 and not (out / "meta_manifest.jsonl").exists()

    assert build(raw, out) == 0  # the rerun resumes ...
    assert build(raw, tmp_path / "clean") == 0  # ... to what an uninterrupted build writes
    assert (out / "meta_manifest.jsonl").read_bytes() == (tmp_path / "clean" / "meta_manifest.jsonl").read_bytes()
    report = (out / "corpora" / "RAVDESS.report.json").read_text(encoding="utf-8")
    assert f'"reused": {done}' in report
