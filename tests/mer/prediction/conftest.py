"""One small trained world per test session: the builder's demo (RAVDESS + MELD), its features, three models.

Everything goes through the real commands, in process: `mer_builder demo` and `all`,
`extract_at_features.py` (MFCC + hashing text, with MELD dialogue context and speaker names, so
prediction has to rebuild both), `build_memmap_features.py`, and `train.py`. The three models:

    at_dropout   flexible_at over audio + text, trained with modality dropout: may lack a transcript
    at_plain     the same without modality dropout: needs a transcript
    audio_only   flexible_at over audio alone
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from mer.commands import train_main
from mer.features.cli import extract_main, memmap_main

REPO = Path(__file__).resolve().parents[3]
GROUPS = ("train", "val", "testA", "testB")
TRAIN_SETS = [
    "model.hidden_dim=64",
    "model.dropout=0.1",
    "training.epochs=8",
    "training.batch_size=32",
    "training.lr=3e-3",
    "training.warmup_epochs=0",
    "training.num_threads=1",
    "training.early_stopping.patience=null",
    "evaluation.test=false",
]


@dataclass(frozen=True)
class DemoWorld:
    root: Path
    processed: Path
    raw: Path
    features: Path
    checkpoints: dict[str, Path]
    records: list[dict]

    def group(self, name: str) -> list[dict]:
        return [r for r in self.records if r["group"] == name]

    def audio(self, record: dict) -> Path:
        return self.processed / record["audio_path"]


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    from mer_builder.cli import main as builder_main

    root = tmp_path_factory.mktemp("predict_demo")
    raw, processed = root / "D" / "raw", root / "D" / "processed"
    corpora = ["--datasets", "ravdess", "meld", "--quiet"]
    assert builder_main(["demo", "--out_dir", str(root / "D"), *corpora]) == 0
    assert (
        builder_main(["all", "--raw_dir", str(raw), "--out_dir", str(processed), "--num_workers", "1", *corpora]) == 0
    )
    pickles, features = root / "F", root / "M"
    extract = ["--processed_dir", str(processed), "--out_dir", str(pickles), "--meld_context_window", "2",
               "--num_workers", "1"]  # fmt: skip
    assert extract_main([*extract, "--include_speaker_in_text", "--quiet"]) == 0
    for group in GROUPS:
        assert memmap_main(["--in_dir", str(pickles / group), "--out_dir", str(features / group), "--quiet"]) == 0
    runs = root / "runs"
    models = {
        "at_dropout": ["--set", "training.modality_dropout=0.4"],
        "at_plain": [],
        "audio_only": ["--modalities", "A"],
    }
    checkpoints = {}
    for name, extra in models.items():
        sets = [f"data.features_dir={features}", f"experiment.output_dir={runs}", *TRAIN_SETS]
        argv = ["--config", str(REPO / "configs" / "mer_builder_at_simple.yaml"), "--run_name", name, "--quiet", *extra]
        assert train_main([*argv, "--set", *sets]) == 0
        checkpoints[name] = runs / name / "seed1" / "checkpoints" / "best.pt"
    records = [json.loads(line) for line in (processed / "meta_manifest.jsonl").read_text().splitlines()]
    return DemoWorld(root, processed, raw, features, checkpoints, records)


@pytest.fixture
def write_checkpoint(tmp_path: Path):
    """Save an untrained model of `name` over `dims` as a checkpoint carrying `feature_config`."""
    import torch

    from mer.config import defaults
    from mer.models import build_model
    from mer.training.checkpoint import make_checkpoint, save_checkpoint
    from mer_builder.labels import EMOTIONS

    def write(name: str, dims: dict[str, int], feature_config: dict | None, modality_dropout: float = 0.0) -> Path:
        config = defaults()
        config["model"].update(name=name, hidden_dim=16)
        config["training"]["modality_dropout"] = modality_dropout
        torch.manual_seed(0)
        model = build_model(config["model"], list(dims), dims, len(EMOTIONS))
        path = tmp_path / f"{name}_{'_'.join(dims)}.pt"
        save_checkpoint(path, make_checkpoint(model, config, dims, EMOTIONS, feature_config))
        return path

    return write


def write_faceless_video(path: Path, seconds: float = 1.0, sr: int = 16000) -> Path:
    """An mp4 with a grey picture (no face) and a tone, muxed with PyAV."""
    import av
    import numpy as np

    audio = (0.1 * np.sin(np.arange(int(seconds * sr)) * 2 * np.pi * 220 / sr)).astype(np.float32)
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=10)
        video.width = video.height = 64
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=sr)
        sound.layout = "mono"
        for index in range(int(seconds * 10)):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 90, np.uint8), format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        size = sound.codec_context.frame_size or 1024
        for start in range(0, len(audio), size):
            chunk = np.zeros(size, np.float32)
            chunk[: len(audio[start : start + size])] = audio[start : start + size]
            frame = av.AudioFrame.from_ndarray(chunk[None], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = sr, start
            container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
    return path


@pytest.fixture
def faceless_video(tmp_path: Path) -> Path:
    return write_faceless_video(tmp_path / "no_face.mp4")
