"""SAVEE: Surrey Audio-Visual Expressed Emotion (Haq & Jackson, University of Surrey, 2009).

Four male speakers of British English, DC, JE, JK and KL, read 15 TIMIT sentences per emotion
(30 for neutral): 120 utterances each, 480 in all, 44.1 kHz mono wav. Layout under `--raw_dir`:

    SAVEE/AudioData/DC/a01.wav    the official AudioData release
    SAVEE/DC/a01.wav              the same folders without the AudioData level (common copies)
    SAVEE/ALL/DC_a01.wav          the flat copy some mirrors ship

A file name is the emotion code and the sentence number (`sa03.wav`: the 3rd sadness sentence).
`Info.txt` beside the speaker folders describes the codes and is not read.

| code | emotion | canonical |
|---|---|---|
| a | anger | anger |
| d | disgust | disgust |
| f | fear | fear |
| h | happiness | joy |
| n | neutral | neutral |
| sa | sadness | sadness |
| su | surprise | surprise |

The release has no transcript files, and some of each emotion's sentences are specific to that
emotion, so the text is left empty (text is optional). Language `en`. Licence: free for research,
by registration with the authors; `download` says where to register.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..manifest import CORPORA
from .common import CorpusLayoutError, ParseContext, Utterance, located_or_manual
from .layout import find_corpus_dir, list_files

NAME = "savee"
CORPUS = CORPORA[NAME]
FOLDER = "SAVEE"
LANGUAGE = "en"
LICENCE = "free for research use, by registration with the University of Surrey"
DOWNLOAD_PAGE = "http://kahlan.eps.surrey.ac.uk/savee/"
ARCHIVE_FOLDERS: tuple[str, ...] = ("AudioData",)
SPEAKERS: tuple[str, ...] = ("DC", "JE", "JK", "KL")
LABELS: dict[str, str | None] = {
    "a": "anger",
    "d": "disgust",
    "f": "fear",
    "h": "joy",
    "n": "neutral",
    "sa": "sadness",
    "su": "surprise",
}
FILE_NAME = re.compile(r"(?:([A-Z]{2})_)?([a-z]{1,2})(\d\d)")
FLAT_FOLDER = "ALL"


def _speaker_root(corpus_dir: Path) -> Path | None:
    for root in (corpus_dir / "AudioData", corpus_dir):
        if any((root / s).is_dir() for s in SPEAKERS) or (root / FLAT_FOLDER).is_dir():
            return root
    return None


def locate(raw_dir: Path | str) -> Path:
    return find_corpus_dir(
        raw_dir, CORPUS, FOLDER, lambda p: _speaker_root(p) is not None,
        "AudioData/<DC|JE|JK|KL>/<code><NN>.wav (or the speaker folders directly)", ARCHIVE_FOLDERS,
    )  # fmt: skip


def download(raw_dir: Path | str, force: bool = False) -> Path:
    return located_or_manual(
        raw_dir, locate, CORPUS, FOLDER,
        lambda corpus_dir: (
            f"SAVEE is released for research after registration at {DOWNLOAD_PAGE}; download AudioData.zip and "
            f"unzip it into {corpus_dir} so that {corpus_dir / 'AudioData' / 'DC' / 'a01.wav'} exists."
        ),
    )  # fmt: skip


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    """(speaker from the folder or the flat name, wav) in path order."""
    for speaker in SPEAKERS:
        for path in list_files(root / speaker, "*.wav") if (root / speaker).is_dir() else []:
            yield speaker, path
    for path in list_files(root / FLAT_FOLDER, "*.wav") if (root / FLAT_FOLDER).is_dir() else []:
        yield path.stem.split("_", 1)[0], path


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    root = _speaker_root(Path(corpus_dir))
    if root is None:
        raise CorpusLayoutError(CORPUS, corpus_dir, "no AudioData/<DC|JE|JK|KL>/ speaker folders")
    seen: dict[str, Path] = {}
    for speaker, path in _files(root):
        match = FILE_NAME.fullmatch(path.stem)
        if match is None or (match[1] or speaker) != speaker or speaker not in SPEAKERS:
            ctx.problem(path, f"file name is not <code><NN>.wav (or <SPEAKER>_<code><NN>.wav) of speakers {SPEAKERS}")
            continue
        code, number = match[2], match[3]
        emotion = ctx.label(path, code, LABELS)
        if emotion is None:
            continue
        native = f"{speaker}_{code}{number}"
        if native in seen:
            ctx.drop(path, "duplicate of a file already read: counted once", duplicate_of=str(seen[native]))
            continue
        seen[native] = path
        yield Utterance(
            dataset=CORPUS, native_id=native, source=path, speaker_id=speaker, raw_label=code, emotion=emotion,
            text="", language=LANGUAGE, gender="male",
        )  # fmt: skip
