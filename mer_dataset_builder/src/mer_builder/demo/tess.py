"""Demo TESS: both speakers, seven emotions, in the real release's folder spellings and file names.

Folders as the real copy spells them (`OAF_Fear`, `OAF_Pleasant_surprise`, `OAF_Sad`, `YAF_fear`,
`YAF_pleasant_surprised`, ...), files `<SPEAKER>_<word>_<token>.wav` with `ps` for pleasant surprise,
and the real `OA_bite_neutral.wav` whose prefix shortens its folder's speaker; 24.4 kHz mono wavs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..recipes.tess import LABELS
from .riff import write_wav
from .tones import synth_utterance

SR = 24414
WORDS = ("back", "bite", "chalk")
# (folder, file token) per speaker, as the real copy spells them.
FOLDERS: dict[str, tuple[tuple[str, str], ...]] = {
    "OAF": (("OAF_angry", "angry"), ("OAF_disgust", "disgust"), ("OAF_Fear", "fear"), ("OAF_happy", "happy"),
            ("OAF_neutral", "neutral"), ("OAF_Pleasant_surprise", "ps"), ("OAF_Sad", "sad")),
    "YAF": (("YAF_angry", "angry"), ("YAF_disgust", "disgust"), ("YAF_fear", "fear"), ("YAF_happy", "happy"),
            ("YAF_neutral", "neutral"), ("YAF_pleasant_surprised", "ps"), ("YAF_sad", "sad")),
}  # fmt: skip
TOKEN_EMOTION = {"ps": "pleasant_surprise"}


def write(corpus_dir: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for speaker, folders in FOLDERS.items():
        pitch = (1.1 if speaker == "OAF" else 1.3) * rng.uniform(0.97, 1.03)
        for folder, token in folders:
            emotion = LABELS[TOKEN_EMOTION.get(token, token)]
            for word in WORDS:
                prefix = "OA" if (folder, word) == ("OAF_neutral", "bite") else speaker
                audio = synth_utterance(emotion, rng, SR, float(rng.uniform(0.6, 0.9)), pitch)
                write_wav(Path(corpus_dir) / folder / f"{prefix}_{word}_{token}.wav", audio, SR)
