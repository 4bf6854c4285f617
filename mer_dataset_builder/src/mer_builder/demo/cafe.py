"""Demo CaFE: four actors in the native `<Émotion>/<Faible|Fort>/AA-E-I-S.wav` and `Neutre/AA-N-S.wav` layout.

Every emotion at both intensities plus neutral, one sentence per actor and condition, 48 kHz mono
wavs. The `Dégoût` folder is written with its name decomposed (NFD), as a zip made on macOS stores it.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np

from ..recipes.cafe import EMOTION_FOLDERS, INTENSITY_FOLDERS, LABELS
from .riff import write_wav
from .tones import synth_utterance

SR = 48000
ACTORS = ("01", "02", "03", "04")


def write(corpus_dir: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for a, actor in enumerate(ACTORS):
        pitch = (0.74 if int(actor) % 2 else 1.24) * rng.uniform(0.94, 1.06)
        for e, (folder, letter) in enumerate(EMOTION_FOLDERS.items()):
            name = unicodedata.normalize("NFD", folder) if folder == "Dégoût" else folder
            sentence = str((a + e) % 6 + 1)
            levels = {"": None} if letter == "N" else INTENSITY_FOLDERS
            for level_folder, level in levels.items():
                stem = f"{actor}-{letter}-{sentence}" if level is None else f"{actor}-{letter}-{level}-{sentence}"
                audio = synth_utterance(LABELS[letter], rng, SR, float(rng.uniform(0.6, 0.9)), pitch)
                write_wav(Path(corpus_dir) / name / level_folder / f"{stem}.wav", audio, SR)
