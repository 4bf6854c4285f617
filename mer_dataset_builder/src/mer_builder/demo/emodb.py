"""Demo EmoDB: all ten speakers in the native `wav/SSTTTEV.wav` layout with the zip's other folders beside it.

Each speaker has every emotion letter (boredom too) on a different sentence, and one sentence in a
second take (version letter b); 16 kHz mono wavs. `lablaut/`, `silb/` and `erkennung.txt` hold
placeholder files, as the release carries them next to `wav/`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..fsutil import atomic_write_text
from ..recipes.emodb import LABELS, SENTENCES, SPEAKERS
from .riff import write_wav
from .tones import synth_utterance

SR = 16000
LETTERS = ("W", "L", "E", "A", "F", "T", "N")


def write(corpus_dir: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    corpus_dir = Path(corpus_dir)
    sentences = list(SENTENCES)
    for s, (speaker, (gender, _)) in enumerate(SPEAKERS.items()):
        pitch = (0.74 if gender == "male" else 1.24) * rng.uniform(0.94, 1.06)
        for k, letter in enumerate(LETTERS):
            sentence = sentences[(s + k) % len(sentences)]
            versions = ("a", "b") if k == s % len(LETTERS) else ("a",)
            for version in versions:
                audio = synth_utterance(LABELS.get(letter), rng, SR, float(rng.uniform(0.6, 0.9)), pitch)
                write_wav(corpus_dir / "wav" / f"{speaker}{sentence}{letter}{version}.wav", audio, SR)
        atomic_write_text(corpus_dir / "lablaut" / f"{speaker}{sentences[s]}Fa.lab", "placeholder\n")
    atomic_write_text(corpus_dir / "silb" / "03a01Fa.silb", "placeholder\n")
    atomic_write_text(corpus_dir / "erkennung.txt", "Satz Erkennung\n")
