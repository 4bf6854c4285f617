"""Interrupted runs: a process killed outright leaves no traceback storm, no stray process, and resumes."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def _children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def _pool_workers(parent: int) -> list[int]:
    """The workers of a LocalExecutor started by `parent`: the children of its forkserver."""
    servers = [p for p in _children(parent) if b"forkserver" in _cmdline(p)]
    return [worker for server in servers for worker in _children(server)]


def _cmdline(pid: int) -> bytes:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    return b""


def _running(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    return False


def test_extraction_workers_leave_when_the_extractor_is_killed(tmp_path):
    """The extractors' and the builder's local pool (mer_builder.parallel.LocalExecutor), busy on long tasks
    when its parent gets kill -9."""
    if not Path("/proc/self/task").is_dir():
        pytest.skip("reads the process tree from /proc (Linux)")
    script = (
        "import time; from mer_builder.parallel import LocalExecutor\n"
        "with LocalExecutor(2) as executor:\n"
        "    for _ in executor.map_tasks(time.sleep, [60] * 4): pass\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    workers: list[int] = []
    try:

        def busy() -> bool:
            workers[:] = _pool_workers(proc.pid)
            return len(workers) == 2

        _kill_when(proc, busy)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(map(_running, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in workers if _running(p)], "workers still running 10 s after the extractor was killed"
    finally:
        for pid in workers:  # only what this test started
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _stderr_after_kill(proc)
