"""Concurrent runs: one output folder, one writer; the second is refused naming the first, nothing is mixed."""

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mer.commands import train_main
from mer.features.cli import extract_main, memmap_main
from mer_builder.locking import LOCK_NAME, OutputLockedError, output_lock
from mer_builder.manifest import MANIFEST_NAME, read_manifest
from tests.conftest import REPO_ROOT

from .conftest import build, error_lines, write_ravdess

REPO = REPO_ROOT
HOLD = """
import sys
from mer_builder.locking import output_lock
with output_lock(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None):
    print("held", flush=True)
    sys.stdin.read()
"""


class Holder:
    """Another process holding the writer's lock of a folder until `release()` (or `kill()`)."""

    def __init__(self, folder: Path, lock_file: Path | None = None):
        argv = [sys.executable, "-c", HOLD, str(folder), *([str(lock_file)] if lock_file else [])]
        self.proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline() == "held\n"
        self.pid = self.proc.pid

    def release(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc.stdin.close()


@pytest.fixture
def holders():
    started: list[Holder] = []

    def start(folder: Path, lock_file: Path | None = None) -> Holder:
        started.append(Holder(folder, lock_file))
        return started[-1]

    yield start
    for holder in started:
        if holder.proc.poll() is None:
            holder.kill()


def test_the_lock_names_its_holder_and_is_gone_after_a_clean_exit(tmp_path, holders):
    holder = holders(tmp_path / "out")
    with pytest.raises(OutputLockedError) as caught, output_lock(tmp_path / "out"):
        pass
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'out'}: another run is writing here (PID {holder.pid}, started 20")
    assert "-c " in message and "\n" not in message
    holder.release()
    assert not (tmp_path / "out").exists()  # the folder the lock made, empty, is gone with it
    with output_lock(tmp_path / "out"):
        assert json.loads((tmp_path / "out" / LOCK_NAME).read_text())["pid"] == os.getpid()
        (tmp_path / "out" / "result.txt").write_text("kept")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["result.txt"]


def test_a_lock_left_by_a_killed_run_is_taken_over_with_a_note(tmp_path, holders, caplog):
    holder = holders(tmp_path / "out")
    holder.kill()
    assert json.loads((tmp_path / "out" / LOCK_NAME).read_text())["pid"] == holder.pid  # left behind
    with caplog.at_level(logging.WARNING), output_lock(tmp_path / "out"):
        pass
    [note] = caplog.messages
    assert f"took over the lock left by PID {holder.pid}, started " in note and "without releasing it" in note


def test_one_process_cannot_take_its_own_folder_twice(tmp_path):
    with output_lock(tmp_path), pytest.raises(OutputLockedError, match=r"PID \d+"), output_lock(tmp_path):
        pass


def _wait_for(condition, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert proc.poll() is None, f"the first run ended early: {proc.communicate()}"
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_second_builder_on_the_same_folder_is_refused_and_the_first_ones_records_stand(tmp_path, capsys):
    raw = write_ravdess(tmp_path / "raw", actors=range(1, 13), emotions=("01", "02", "03", "04"), seconds=1.5)
    out = tmp_path / "out"
    first = [sys.executable, "-m", "mer_builder", "prepare", "--datasets", "ravdess", "--raw_dir", str(raw),
             "--out_dir", str(out), "--num_workers", "1", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(first, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        journal = out / "corpora" / "RAVDESS.audio.jsonl"
        _wait_for(lambda: journal.is_file() and journal.stat().st_size > 0, proc)  # mid-run
        assert build(raw, out, "--ravdess_calm", "map_to_neutral") == 1
        [line] = error_lines(capsys.readouterr().err)
        assert line.startswith(f"error: {out}: another run is writing here (PID {proc.pid}, started ")
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "RAVDESS: 36 records" in stdout  # calm dropped: the first run's options, untouched by the second
    assert len(read_manifest(out / MANIFEST_NAME)) == 36 and not (out / LOCK_NAME).exists()


def test_rebuilding_a_corpus_with_other_options_is_refused_unless_forced(ravdess_raw, tmp_path, capsys):
    write_ravdess(ravdess_raw, emotions=("02",))  # calm, which --ravdess_calm decides about
    out = tmp_path / "out"
    assert build(ravdess_raw, out) == 0
    before = (out / MANIFEST_NAME).read_bytes()
    assert build(ravdess_raw, out, "--ravdess_calm", "map_to_neutral") == 2  # the options conflict with the output
    [line] = error_lines(capsys.readouterr().err)
    assert line == (
        f"error: {out}: RAVDESS was built here with --ravdess_calm drop, and this run asks for --ravdess_calm "
        "map_to_neutral, which would replace its records; pass --force to rebuild it with the new options, "
        "or give another --out_dir"
    )
    assert (out / MANIFEST_NAME).read_bytes() == before
    assert build(ravdess_raw, out, "--seed", "3") == 2 and "--seed 0" in capsys.readouterr().err
    assert build(ravdess_raw, out, "--audio_failure", "error") == 0  # the audio policy names each file it hits
    assert build(ravdess_raw, out, "--ravdess_calm", "map_to_neutral", "--force") == 0
    assert len(read_manifest(out / MANIFEST_NAME)) == 30


def test_a_second_extractor_is_refused_and_writes_nothing(built, tmp_path, holders, capsys):
    out = tmp_path / "F"
    holder = holders(out)
    argv = ["--processed_dir", str(built), "--out_dir", str(out), "--n_mfcc", "13", "--quiet"]
    assert extract_main(argv) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: {out}: another run is writing here (PID {holder.pid}, started ")
    assert [p.name for p in out.iterdir()] == [LOCK_NAME]


def test_an_extractor_rerun_with_another_config_never_replaces_the_features(built, features, capsys):
    before = (features / "feature_info.json").read_bytes()
    argv = ["--processed_dir", str(built), "--out_dir", str(features), "--n_mfcc", "13", "--quiet"]
    assert extract_main(argv) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert "was written with a different feature config" in line and "--force" in line
    assert (features / "feature_info.json").read_bytes() == before


def test_a_second_memmap_packer_is_refused(features, tmp_path, holders, capsys):
    out = tmp_path / "M" / "train"
    holder = holders(out, out.parent / f".train{LOCK_NAME}")
    assert memmap_main(["--in_dir", str(features / "train"), "--out_dir", str(out), "--quiet"]) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: {out}: another run is writing here (PID {holder.pid}, started ")
    assert not out.exists()


def test_a_second_training_run_of_the_same_name_is_refused(features, tmp_path, holders, capsys):
    runs = tmp_path / "runs"
    holder = holders(runs / "same")
    sets = [f"data.features_dir={features}", f"experiment.output_dir={runs}", "training.epochs=1"]
    assert (
        train_main(["--run_name", "same", "--quiet", "--set", *sets]) == 1
    )  # another run holds the folder: a run-time failure
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: {runs / 'same'}: another run is writing here (PID {holder.pid}, started ")
    assert [p.name for p in (runs / "same").iterdir()] == [LOCK_NAME]
