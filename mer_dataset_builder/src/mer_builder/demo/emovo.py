"""Demo EMOVO: the six actors in the native `<actor>/<emotion>-<actor>-<sentence>.wav` layout, 48 kHz stereo.

Every emotion once per actor, on sentences (short, long, nonsense and question codes),
and the `documents/` folder the release carries beside the actor folders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..fsutil import atomic_write_text
from ..recipes.emovo import ACTORS, LABELS, SENTENCES
from .riff import write_wav
from .tones import synth_utterance

SR = 48000


def write(corpus_dir: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    sentences = list(SENTENCES)
    for a, (actor, gender) in enumerate(ACTORS.items()):
        pitch = (0.74 if gender == "male" else 1.24) * rng.uniform(0.94, 1.06)
        for e, (code, emotion) in enumerate(LABELS.items()):
            for k in range(1):
                sentence = sentences[(a + 2 * e + k) % len(sentences)]
                audio = synth_utterance(emotion, rng, SR, float(rng.uniform(0.6, 0.9)), pitch)
                write_wav(Path(corpus_dir) / actor / f"{code}-{actor}-{sentence}.wav", audio, SR, channels=2)
    atomic_write_text(Path(corpus_dir) / "documents" / "README.txt", "EMOVO corpus description\n")
