"""Demo eNTERFACE'05: six subjects in the native `subject N/<emotion>/sentence k/sN_<code>_k.avi` layout.

AVI clips with a drawn face and an audio track, every emotion once per subject, with the real
release's quirks: subject 11's files named `s12_...`, subject 3's named `s_3_...`, a stray suffix
(`s16_su_3avi.avi`), and subject 2's happiness clips without the `sentence k` level.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..recipes.enterface import EMOTION_FOLDERS, LABELS
from .media import write_mp4
from .tones import synth_utterance

SR = 16000
SUBJECTS = (1, 2, 3, 11, 12, 16)
SIZE = (48, 48)


def _name(subject: int, code: str, sentence: int) -> str:
    if subject == 3:
        return f"s_3_{code}_{sentence}"
    if subject == 11:
        return f"s12_{code}_{sentence}"
    if (subject, code, sentence) == (16, "su", 3):
        return "s16_su_3avi"
    return f"s{subject}_{code}_{sentence}"


def write(corpus_dir: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for subject in SUBJECTS:
        pitch = (0.74 if subject % 2 else 1.24) * rng.uniform(0.94, 1.06)
        for e, (folder, code) in enumerate(EMOTION_FOLDERS.items()):
            for sentence in (3,) if (subject, code) == (16, "su") else (e % 5 + 1,):
                level = "" if (subject, folder) == (2, "happiness") else f"sentence {sentence}"
                emotion = LABELS[code]
                audio = synth_utterance(emotion, rng, SR, float(rng.uniform(0.5, 0.7)), pitch)
                path = (
                    Path(corpus_dir) / f"subject {subject}" / folder / level / f"{_name(subject, code, sentence)}.avi"
                )
                write_mp4(path, audio, SR, fps=10, size=SIZE, expression=emotion)
