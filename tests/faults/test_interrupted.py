"""Interrupted runs: a process killed outright leaves no traceback storm, no stray process, and resumes."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

from .conftest import build, same_features, write_ravdess

REPO = REPO_ROOT


def _kill_when(proc: subprocess.Popen, ready, timeout_s: float = 60, signum: int | None = signal.SIGKILL) -> None:
    """kill -9 the process (or send it `signum`; None: send nothing) as soon as `ready()` holds (it is then
    mid-run)."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert proc.poll() is None, f"finished before it could be interrupted: {proc.communicate()}"
        assert time.monotonic() < deadline, "never got going"
        time.sleep(0.005)
    if signum is not None:
        proc.send_signal(signum)


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


def _wait_gone(pids: list[int], bound_s: float = 10) -> list[int]:
    """The processes of `pids` still running after `bound_s` seconds."""
    deadline = time.monotonic() + bound_s
    while any(map(_running, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if _running(p)]


def _interrupt(argv: list[str], ready, whole_group: bool = False) -> tuple[int, str]:
    """Run `argv` with 2 pool workers, send SIGINT to the run's own process (or, as a terminal's Ctrl-C does,
    to its whole process group: workers and forkserver too) once both workers are up and `ready()` holds;
    check that no worker outlives the run by more than 10 s. Returns (exit code, stderr)."""
    if not Path("/proc/self/task").is_dir():
        pytest.skip("reads the process tree from /proc (Linux)")
    proc = subprocess.Popen(argv, cwd=REPO, stderr=subprocess.PIPE, text=True, start_new_session=True)
    workers: list[int] = []
    try:

        def mid_run() -> bool:
            workers[:] = _pool_workers(proc.pid) or workers
            return len(workers) == 2 and ready()

        _kill_when(proc, mid_run, signum=None if whole_group else signal.SIGINT)
        if whole_group:
            os.killpg(proc.pid, signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
        assert not _wait_gone(workers), "pool workers still running 10 s after the interrupted run ended"
        return proc.returncode, err
    finally:
        for pid in workers:  # only what this test started
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _stderr_after_kill(proc)


INTERRUPTED = "interrupted; run the same command again to resume"


@pytest.mark.parametrize("whole_group", [False, True], ids=["SIGINT to the run", "Ctrl-C to its group"])
def test_ctrl_c_stops_the_builder_and_its_workers_on_one_line_and_the_rerun_resumes(tmp_path, whole_group):
    raw = write_ravdess(tmp_path / "raw", actors=range(1, 13), emotions=("01", "03", "04", "05"), seconds=1.5)
    out = tmp_path / "out"
    journal = out / "corpora" / "RAVDESS.audio.jsonl"
    argv = [sys.executable, "-m", "mer_builder", "prepare", "--datasets", "ravdess", "--raw_dir", str(raw),
            "--out_dir", str(out), "--num_workers", "2", "--quiet"]  # fmt: skip
    code, err = _interrupt(argv, lambda: journal.is_file() and journal.stat().st_size > 0, whole_group)
    assert (code, err) == (130, INTERRUPTED + "\n")
    done = journal.read_text(encoding="utf-8").count("\n")
    assert 0 < done < 48 and not (out / "meta_manifest.jsonl").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name == ".mer.lock"]

    assert build(raw, out) == 0  # the rerun resumes ...
    assert build(raw, tmp_path / "clean") == 0  # ... to what an uninterrupted build writes
    assert (out / "meta_manifest.jsonl").read_bytes() == (tmp_path / "clean" / "meta_manifest.jsonl").read_bytes()
    assert f'"reused": {done}' in (out / "corpora" / "RAVDESS.report.json").read_text(encoding="utf-8")


def test_ctrl_c_stops_the_extractor_and_its_workers_on_one_line_and_the_rerun_resumes(tmp_path):
    raw = write_ravdess(tmp_path / "raw", actors=range(1, 13), emotions=("01", "03", "04", "05"), seconds=1.5)
    processed, out = tmp_path / "processed", tmp_path / "F"
    assert build(raw, processed) == 0
    options = ["--processed_dir", str(processed), "--n_mfcc", "20", "--text_dim", "64", "--chunk_size", "1", "--quiet"]
    argv = [sys.executable, "-m", "mer", "extract", *options, "--out_dir", str(out), "--num_workers", "2"]
    code, err = _interrupt(argv, lambda: any(out.rglob("*.pkl")))
    assert (code, err) == (130, INTERRUPTED + "\n")
    kept = {p: p.stat().st_mtime_ns for p in out.rglob("*.pkl")}
    assert 0 < len(kept) < 48 and not (out / "feature_info.json").exists()  # the run is not marked finished
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name == ".mer.lock"]

    from mer.features.cli import extract_main

    assert extract_main([*options, "--out_dir", str(out), "--num_workers", "1"]) == 0  # resumes ...
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert extract_main([*options, "--out_dir", str(tmp_path / "clean"), "--num_workers", "1"]) == 0
    assert same_features(out, tmp_path / "clean")  # ... to what an uninterrupted run writes
