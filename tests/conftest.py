"""Shared fixtures. Tests never touch the network: hub lookups are switched off before any import."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("MER_REAL_DATA", REPO_ROOT.parent / "shared" / "data" / "real"))


def words_missed(heard: str, said: str) -> int:
    """Word-level edit distance between a transcript and the sentence spoken, ignoring case and punctuation.

    Whisper's int8 kernels differ between CPU generations, so a machine can mishear a word of synthetic speech
    that another hears right; transcription tests allow one word, not an exact string."""
    import re

    a, b = (re.findall(r"[a-z']+", text.lower()) for text in (heard, said))
    row = list(range(len(b) + 1))
    for i, word in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1]


@pytest.fixture
def real_corpus():
    """Path to one corpus under ../shared/data/real, or a skip saying why it is unavailable."""

    def get(folder: str) -> Path:
        path = REAL_DATA / folder
        if not path.is_dir():
            pytest.skip(f"real {folder} samples not found at {path} (set MER_REAL_DATA to their folder)")
        return path

    return get


@pytest.fixture(scope="session", autouse=True)
def transcript_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Whisper transcripts made by tests go to a temporary cache, never the user's ~/.cache/mer."""
    path = tmp_path_factory.mktemp("mer_cache")
    os.environ["MER_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def speak(tmp_path_factory: pytest.TempPathFactory):
    """Real synthesised speech: `speak(text, name, pitch=50, speed=175, amplitude=100)` writes a 16 kHz mono wav
    with Debian's espeak-ng (formant synthesis) resampled by sox, and returns its path."""
    import shutil
    import subprocess

    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        reason = f"{' and '.join(missing)} not installed (apt-get install espeak-ng sox; .ci/run installs them)"
        if os.environ.get("CI"):  # CI must run the speech tests, not skip them
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("speech")

    def make(text: str, name: str, pitch: int = 50, speed: int = 175, amplitude: int = 100) -> Path:
        raw, out = folder / f"{name}.raw.wav", folder / f"{name}.wav"
        if not out.exists():
            subprocess.run(
                ["espeak-ng", "-v", "en-us", "-p", str(pitch), "-s", str(speed), "-a", str(amplitude), "-w", raw, text],
                check=True,
            )
            subprocess.run(["sox", raw, "-r", "16000", "-c", "1", "-b", "16", out], check=True)
            raw.unlink()
        return out

    return make


@pytest.fixture(scope="session")
def demo_features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A memmap feature root (train/ val/ testA/ testB/) of the builder's demo RAVDESS and MELD, made by the
    real commands in process: `mer_builder demo` and `all`, `extract_at_features.py` (MFCC + hashing text,
    MELD dialogue context and speaker names), `build_memmap_features.py`. Its manifest is `<root>/../processed`."""
    from mer.features.cli import extract_main, memmap_main
    from mer_builder.cli import main as builder_main

    root = tmp_path_factory.mktemp("demo_features")
    raw, processed, pickles, features = root / "D" / "raw", root / "processed", root / "F", root / "M"
    corpora = ["--datasets", "ravdess", "meld", "--quiet"]
    assert builder_main(["demo", "--out_dir", str(root / "D"), *corpora]) == 0
    build = ["all", "--raw_dir", str(raw), "--out_dir", str(processed), "--num_workers", "1"]
    assert builder_main([*build, *corpora]) == 0
    extract = ["--processed_dir", str(processed), "--out_dir", str(pickles), "--meld_context_window", "2"]
    assert extract_main([*extract, "--include_speaker_in_text", "--quiet"]) == 0
    for group in ("train", "val", "testA", "testB"):
        assert memmap_main(["--in_dir", str(pickles / group), "--out_dir", str(features / group), "--quiet"]) == 0
    return features
