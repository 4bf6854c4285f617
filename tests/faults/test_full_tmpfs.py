"""A really full disk (a 1 MiB tmpfs, filled up to a few KiB): the builder, the extractor and the memmap packer
stop with one line naming what they could not write (exit 1), leave no temporary or half-written file, keep
every output they had finished (byte for byte), and the same command finishes the job once there is room.

test_full_disk.py makes `os.replace` fail; here the kernel refuses the writes themselves (soundfile's,
pickle's, numpy's and mmap's), which is where unnamed "[Errno 28]" errors and SIGBUS came from.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mer.features.cli import extract_main, memmap_main
from mer_builder.manifest import MANIFEST_NAME

from .conftest import build, error_lines, same_features
from .test_full_disk import _stops_on_full_disk


class SmallDisk:
    """A mounted tmpfs; `fill(leave)` takes all but `leave` bytes with a filler file, `make_room()` frees them."""

    def __init__(self, path: Path):
        self.path = path
        self.filler = path / "filler"

    def free(self) -> int:
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize

    def fill(self, leave: int) -> None:
        with self.filler.open("ab") as handle:
            handle.write(bytes(self.free() - leave))
        assert self.free() == leave

    def make_room(self) -> None:
        self.filler.unlink()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A real 1 MiB tmpfs at tmp_path/disk, unmounted afterwards; skipped where mounting is not permitted."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
    except FileNotFoundError:
        pytest.skip("mounts a small tmpfs to fill it, and this system has no `mount` command")
    if done.returncode != 0:
        pytest.skip(f"mounts a small tmpfs to fill it, which needs root here: {' '.join(done.stderr.split())}")
    try:
        yield SmallDisk(mount_point)
    finally:
        subprocess.run(["umount", str(mount_point)], check=True, timeout=30)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _mtimes(folder: Path, suffix: str) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob(f"*{suffix}")}


def test_the_builder_on_a_full_tmpfs_keeps_whole_wavs_and_resumes(ravdess_raw, built_once, small_disk, capsys):
    out = small_disk.path / "out"
    small_disk.fill(leave=64 * 1024)  # room for a few of the 24 normalised wavs (9.6 kB each)
    assert build(ravdess_raw, out) == 1
    _stops_on_full_disk(capsys.readouterr(), out)  # the one line names the wav; no .tmp file is left
    kept = _mtimes(out, ".wav")
    assert 0 < len(kept) < 24 and not (out / MANIFEST_NAME).exists()
    for wav in kept:  # every wav left is complete: the same bytes a build with room writes
        assert wav.read_bytes() == (built_once / wav.relative_to(out)).read_bytes()

    small_disk.make_room()
    assert build(ravdess_raw, out) == 0
    assert _mtimes(out, ".wav").items() >= kept.items()  # the finished wavs were reused, not written again
    assert (out / MANIFEST_NAME).read_bytes() == (built_once / MANIFEST_NAME).read_bytes()


def test_the_extractor_on_a_full_tmpfs_keeps_whole_pickles_and_resumes(built, features, small_disk, capsys):
    out = small_disk.path / "F"  # the `features` fixture's options below, so the pickles compare byte for byte
    argv = ["--processed_dir", str(built), "--out_dir", str(out), "--n_mfcc", "20", "--text_dim", "64",
            "--num_workers", "1", "--quiet"]  # fmt: skip
    small_disk.fill(leave=40 * 1024)  # a pickle takes a 4 kB page: room for some of the 24
    assert extract_main(argv) == 1
    captured = capsys.readouterr()
    _stops_on_full_disk(captured, out)
    [line] = error_lines(captured.err)
    assert line.split(": cannot write it")[0].endswith(".pkl")  # it names the pickle it could not write
    kept = _mtimes(out, ".pkl")
    assert 0 < len(kept) < 24 and not (out / "feature_info.json").exists()
    clean = _files(features)
    assert all(pkl.read_bytes() == clean[str(pkl.relative_to(out))] for pkl in kept)

    small_disk.make_room()
    assert extract_main(argv) == 0
    assert _mtimes(out, ".pkl").items() >= kept.items()
    assert same_features(out, features)  # the finished run is what a run with room writes


def test_the_memmap_packer_on_a_full_tmpfs_keeps_the_earlier_pack_and_packs_once_there_is_room(
    built, tmp_path, small_disk, capsys
):
    features = tmp_path / "F"  # 1024-d text: text.npy of the 16 train rows spans 16 pages of 4 kB in float32
    argv = ["--processed_dir", str(built), "--out_dir", str(features), "--text_dim", "1024", "--num_workers", "1"]
    assert extract_main([*argv, "--quiet"]) == 0
    out = small_disk.path / "M" / "train"
    argv = ["--in_dir", str(features / "train"), "--out_dir", str(out), "--quiet"]
    assert memmap_main([*argv, "--dtype", "float16"]) == 0
    before = _files(out)
    # Room for the lock, audio.npy and the first and last pages of text.npy (numpy writes those two when it
    # makes the file), none for the pages between: writing them through the memmap used to kill the process
    # with SIGBUS, leaving no message, the temporary dir and the lock behind.
    small_disk.fill(leave=16 * 1024)
    assert memmap_main(argv) == 1
    err = capsys.readouterr().err
    [line] = error_lines(err)
    assert line == (
        f"error: {out}: cannot write it (No space left on device); make room there (or choose another --out_dir) "
        "and run the same command again: what was finished is kept"
    )
    assert "Traceback" not in err
    assert _files(out) == before  # the earlier pack stands, untouched
    assert sorted(p.name for p in out.parent.iterdir()) == ["train"]  # no temporary dir, no lock left

    small_disk.make_room()
    assert memmap_main(argv) == 0
    assert '"dtype": "float32"' in (out / "info.json").read_text(encoding="utf-8")
