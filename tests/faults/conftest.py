"""Fault-injection helpers: a small real-layout corpus, its built output, and an untrained checkpoint.

Every fault test breaks one of these the way a user's files get broken, runs the real command
(in process unless the CLI process itself is the subject) and checks what the user sees: the
exit code, one line naming the file, and what was kept.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mer_builder.demo.tones import synth_utterance

# RAVDESS emotion codes used here: neutral, happy, sad, angry (calm 02 only where a test asks for it).
EMOTION_CODES = {"01": "neutral", "03": "joy", "04": "sadness", "05": "anger"}


def ravdess_name(actor: int, emotion: str = "01", statement: str = "01") -> str:
    return f"03-01-{emotion}-01-{statement}-01-{actor:02d}"


def write_ravdess(raw: Path, actors=(1, 2, 3, 4, 5, 6), emotions=tuple(EMOTION_CODES), seconds: float = 0.3) -> Path:
    """RAVDESS audio-only speech in its native layout (48 kHz PCM16, Actor_XX folders); returns `raw`."""
    rng = np.random.default_rng(0)
    for actor in actors:
        folder = raw / "RAVDESS" / f"Actor_{actor:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for code in emotions:
            audio = synth_utterance(EMOTION_CODES.get(code, "neutral"), rng, sr=48000, duration_s=seconds)
            sf.write(folder / f"{ravdess_name(actor, code)}.wav", audio, 48000, subtype="PCM_16")
    return raw


def build(raw: Path, out: Path, *extra: str) -> int:
    """`python -m mer_builder prepare` on RAVDESS, in process, one worker, quiet."""
    from mer_builder.cli import main

    argv = ["prepare", "--datasets", "ravdess", "--raw_dir", str(raw), "--out_dir", str(out), "--num_workers", "1"]
    return main([*argv, "--quiet", *extra])


@pytest.fixture
def ravdess_raw(tmp_path: Path) -> Path:
    """6 actors x 4 emotions of 0.3 s: a corpus the real RAVDESS recipe reads, written per test."""
    return write_ravdess(tmp_path / "raw")


@pytest.fixture(scope="session")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("built")
    assert build(write_ravdess(root / "raw"), root / "processed") == 0
    return root / "processed"


@pytest.fixture
def built(built_once: Path, tmp_path: Path) -> Path:
    """A private copy of a good builder output (24 RAVDESS records), for tests that tamper with it."""
    return Path(shutil.copytree(built_once, tmp_path / "processed"))


@pytest.fixture
def features(built: Path, tmp_path: Path) -> Path:
    """MFCC (2 x 20, what `audio_checkpoint` takes) + 64-d hashing features of `built`: F/<group>/..."""
    from mer.features.cli import extract_main

    argv = ["--processed_dir", str(built), "--out_dir", str(tmp_path / "F"), "--n_mfcc", "20", "--text_dim", "64"]
    assert extract_main([*argv, "--quiet"]) == 0
    return tmp_path / "F"


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


@pytest.fixture
def audio_checkpoint(tmp_path: Path) -> Path:
    """An untrained audio-only model over 2 x 20 MFCC statistics, saved as a real mer checkpoint."""
    import torch

    from mer.config import defaults
    from mer.features.config import FeatureConfig, MfccSpec
    from mer.models import build_model
    from mer.training.checkpoint import make_checkpoint, save_checkpoint
    from mer_builder.labels import EMOTIONS

    config = defaults()
    config["model"].update(name="flexible_at", hidden_dim=16)
    config["experiment"]["name"] = "faults"
    dims = {"audio": 40}
    torch.manual_seed(0)
    model = build_model(config["model"], ["audio"], dims, len(EMOTIONS))
    features = FeatureConfig(audio=(MfccSpec(n_mfcc=20),)).to_dict()
    path = tmp_path / "model.pt"
    save_checkpoint(path, make_checkpoint(model, config, dims, EMOTIONS, features))
    return path


def same_features(ours: Path, theirs: Path) -> bool:
    """Two feature dirs hold the same files, byte for byte, but feature_info.json (it records the run's
    command): features never depend on which chunk or run computed them."""
    names = {p.relative_to(ours) for p in ours.rglob("*") if p.is_file()}
    assert names == {p.relative_to(theirs) for p in theirs.rglob("*") if p.is_file()}
    for name in sorted(names):
        if name.name != "feature_info.json":
            assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name
    return True
