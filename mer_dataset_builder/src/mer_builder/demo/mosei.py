"""Demo CMU-MOSEI: six monologue videos as the raw release and the SDK lay them out, labels in a real .csd.

Per video a 16 kHz wav of several sentences, the segmented transcript, and label intervals in
`Labels/CMU_MOSEI_Labels.csd` (HDF5 written with h5py, the SDK's layout: `All Labels/data/<video>/
{intervals, features}` with features sentiment, happy, sad, anger, surprise, disgust, fear), listed
out of time order, one starting before 0, overlapping neighbours, one with all six intensities 0
(neutral) and one tie (dropped). `cmu_mosei_std_folds.py` puts four videos in train and one each in
valid and test; a seventh video is in no fold, as some real ones are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..fsutil import atomic_write_text
from ..recipes.mosei import AUDIO_DIR, FOLDS_FILE, LABELS, LABELS_FILE, TRANSCRIPT_DIR
from .riff import write_wav
from .tones import synth_utterance

SR = 16000
VIDEOS: dict[str, str | None] = {  # video id -> standard fold (None: in no fold)
    "-3g5yACwYnA": "train", "03X1FwF6udc": "train", "2mWPHvbKzL8": "train", "81406": "train",
    "_HanACduNJk": "valid", "zqkawTdHN5s": "test", "OutOfFold01": None,
}  # fmt: skip
EMOTIONS = ("happy", "sad", "anger", "surprise", "disgust", "fear")
SENTENCES = ("so I went to see it last weekend", "the plot was honestly all over the place",
             "but the music carried the whole thing", "I would not watch it twice")  # fmt: skip


def _features(k: int, v: int) -> list[float]:
    """sentiment + six intensities; segment 0 of video 0 is all zeros, segment 1 of video 1 a tie."""
    if (v, k) == (0, 0):
        return [0.0] * 7
    scores = [0.0] * 6
    scores[(v + k) % 6] = 1.0 + (k % 3) / 3
    if (v, k) == (1, 1):
        scores[(v + k + 1) % 6] = scores[(v + k) % 6]
    return [round(1.5 - k, 3), *scores]


def write(corpus_dir: Path, seed: int = 0) -> None:
    import h5py

    rng = np.random.default_rng(seed)
    corpus_dir = Path(corpus_dir)
    labels: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for v, video in enumerate(VIDEOS):
        pitch = (0.74 if v % 2 else 1.24) * rng.uniform(0.94, 1.06)
        pieces, intervals, features, lines, t = [], [], [], [], 0.0
        for k, sentence in enumerate(SENTENCES):
            feats = _features(k, v)
            top = int(np.argmax(feats[1:]))
            emotion = LABELS[EMOTIONS[top]] if max(feats[1:]) > 0 else "neutral"
            length = float(rng.uniform(0.8, 1.1))
            pieces += [synth_utterance(emotion, rng, SR, length, pitch), np.zeros(int(0.3 * SR), np.float32)]
            start = -0.45 if k == 0 and v == 2 else t  # MOSEI intervals can start before 0
            intervals.append([start, t + length + 0.2])  # and overlap the next one a little
            features.append(feats)
            lines.append(f"{video}___{k}___{t:.3f}___{t + length:.3f}___{sentence}")
            t += length + 0.3
        write_wav(corpus_dir / AUDIO_DIR / f"{video}.wav", np.concatenate(pieces), SR)
        atomic_write_text(corpus_dir / TRANSCRIPT_DIR / f"{video}.txt", "\n".join(lines) + "\n")
        order = [2, 0, 3, 1]  # the .csd does not keep time order
        labels[video] = (np.asarray(intervals)[order], np.asarray(features)[order])
    (corpus_dir / "Labels").mkdir(parents=True, exist_ok=True)
    with h5py.File(corpus_dir / "Labels" / LABELS_FILE, "w") as handle:
        data = handle.create_group("All Labels").create_group("data")
        handle["All Labels"].create_group("metadata")
        for video, (spans, values) in labels.items():
            group = data.create_group(video)
            group["intervals"], group["features"] = spans, values
    folds = {fold: [v for v, f in VIDEOS.items() if f == fold] for fold in ("train", "valid", "test")}
    atomic_write_text(
        corpus_dir / FOLDS_FILE,
        "".join(f"standard_{fold}_fold = {videos!r}\n" for fold, videos in folds.items()),
    )
