"""Demo URDU: the GitHub zip as it unpacks, `URDU-Dataset-master/<Emotion>/S<G><n>_F<k>_<E><num>.wav`.

Eight speakers (five male, three female) with names numbered as the release numbers them (`A01`,
`A010`, `A0100`), one speaker's files in a per-speaker subfolder; 44.1 kHz mono wavs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..recipes.urdu import EMOTION_FOLDERS, LABELS
from .riff import write_wav
from .tones import synth_utterance

SR = 44100
SPEAKERS = ("SM1", "SM4", "SM7", "SM17", "SM24", "SF1", "SF6", "SF10")
SUBFOLDER_SPEAKER = "SM24"


def write(corpus_dir: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    root = Path(corpus_dir) / "URDU-Dataset-master"
    for folder, letter in EMOTION_FOLDERS.items():
        number = 0
        for speaker in SPEAKERS:
            pitch = (0.74 if speaker[1] == "M" else 1.24) * rng.uniform(0.94, 1.06)
            for k in (1, 2):
                number += 1 if number != 9 else 91  # 01 ... 09, then 0100 as the release jumps
                target = root / folder / (speaker if speaker == SUBFOLDER_SPEAKER else "")
                audio = synth_utterance(LABELS[letter], rng, SR, float(rng.uniform(0.6, 0.9)), pitch)
                write_wav(target / f"{speaker}_F{k}_{letter}0{number}.wav", audio, SR)
