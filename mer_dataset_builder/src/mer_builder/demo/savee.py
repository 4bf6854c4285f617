"""Demo SAVEE: the four speakers in the official `AudioData/<SPEAKER>/<code><NN>.wav` layout with `Info.txt`.

Two sentences per emotion and speaker (neutral has sentences up to 30 in the real corpus: one of
them here is n25), 44.1 kHz mono wavs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..fsutil import atomic_write_text
from ..recipes.savee import LABELS, SPEAKERS
from .riff import write_wav
from .tones import synth_utterance

SR = 44100


def write(corpus_dir: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    root = Path(corpus_dir) / "AudioData"
    for speaker in SPEAKERS:
        pitch = 0.72 * rng.uniform(0.92, 1.08)
        for code, emotion in LABELS.items():
            for number in (1, 25 if code == "n" else 2):
                audio = synth_utterance(emotion, rng, SR, float(rng.uniform(0.6, 0.9)), pitch)
                write_wav(root / speaker / f"{code}{number:02d}.wav", audio, SR)
    atomic_write_text(root / "Info.txt", "'DC', 'JE', 'JK' and 'KL' are four male speakers\n")
