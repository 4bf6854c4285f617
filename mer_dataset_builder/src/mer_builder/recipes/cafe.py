"""CaFE: the Canadian French Emotional speech dataset (Gournay, Lahaie & Lefebvre, Université de Sherbrooke, 2018).

Twelve actors (odd-numbered men, even-numbered women) say six French sentences in six emotions at
two intensities, plus neutral: 12 x 6 x 13 = 936 recordings, released at 48 kHz (wav) and at
192 kHz (aiff, in parts). Layout under `--raw_dir`:

    CaFE/Colère/Faible/01-C-1-1.wav     emotion / intensity / AA-E-I-S
    CaFE/Neutre/01-N-1.wav              neutral has no intensity level: AA-N-S
    CaFE/CaFE_192k_1/Colère/Fort/...    the 192 kHz parts, each a folder of the same shape (.aiff)

AA is the actor (01-12), E the emotion letter, I the intensity (1 faible/low, 2 fort/high), S the
sentence (1-6). Folder names are French with accents; archives made on macOS store them decomposed
(NFD), so names are compared after Unicode normalisation. The file's emotion letter must agree with
its folder.

| letter | folder | canonical |
|---|---|---|
| C | Colère | anger |
| D | Dégoût | disgust |
| J | Joie | joy |
| N | Neutre | neutral |
| P | Peur | fear |
| S | Surprise | surprise |
| T | Tristesse | sadness |

The six sentences are the same in every emotion. Language `fr` (Canadian French). Licence CC BY-NC-SA
4.0; `download` fetches `CaFE_48k.zip` from Zenodo (record 1478765; Zenodo lists an MD5, which is not
recorded here since it could not be checked offline).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from ..download import extract_archive, fetch
from ..manifest import CORPORA
from .common import CorpusLayoutError, ParseContext, Utterance
from .layout import find_corpus_dir, is_junk, list_files

NAME = "cafe"
CORPUS = CORPORA[NAME]
FOLDER = "CaFE"
LANGUAGE = "fr"
LICENCE = "CC BY-NC-SA 4.0"
ARCHIVE = "CaFE_48k.zip"
URL = f"https://zenodo.org/records/1478765/files/{ARCHIVE}?download=1"
ARCHIVE_SHA256: str | None = None
ARCHIVE_FOLDERS: tuple[str, ...] = ("CaFE_48k",)
EMOTION_FOLDERS: dict[str, str] = {
    "Colère": "C",
    "Dégoût": "D",
    "Joie": "J",
    "Neutre": "N",
    "Peur": "P",
    "Surprise": "S",
    "Tristesse": "T",
}
LABELS: dict[str, str | None] = {
    "C": "anger",
    "D": "disgust",
    "J": "joy",
    "N": "neutral",
    "P": "fear",
    "S": "surprise",
    "T": "sadness",
}
INTENSITIES: dict[str, str] = {"1": "low", "2": "high"}
INTENSITY_FOLDERS: dict[str, str] = {"Faible": "1", "Fort": "2"}
SENTENCES: dict[str, str] = {
    "1": "Un cheval fou dans mon jardin.",
    "2": "Deux ânes aigris au pelage brun.",
    "3": "Trois cygnes aveugles au bord du lac.",
    "4": "Quatre vieilles truies éléphantesques.",
    "5": "Cinq pumas fiers et passionnés.",
    "6": "Six ours aimants domestiqués.",
}
FILE_NAME = re.compile(r"(\d\d)-([A-Z])(?:-([12]))?-([1-6])")
AUDIO_SUFFIXES = (".wav", ".aiff", ".aif")


def _nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def emotion_folders(corpus_dir: Path) -> list[Path]:
    """Emotion folders directly in `corpus_dir` or in its part folders (CaFE_192k_1/...), NFC/NFD alike."""
    if not corpus_dir.is_dir():
        return []
    found = []
    for folder in (corpus_dir, *sorted(p for p in corpus_dir.iterdir() if p.is_dir() and not is_junk(p))):
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if p.is_dir() and _nfc(p.name) in EMOTION_FOLDERS)
    return found


def locate(raw_dir: Path | str) -> Path:
    return find_corpus_dir(
        raw_dir, CORPUS, FOLDER, lambda p: bool(emotion_folders(p)), "Colère/Faible/01-C-1-1.wav ... Neutre/01-N-1.wav",
        ARCHIVE_FOLDERS,
    )  # fmt: skip


def download(raw_dir: Path | str, force: bool = False) -> Path:
    """Fetch CaFE_48k.zip from Zenodo (resumable) and unpack it safely into `raw_dir/CaFE`."""
    if not force:
        try:
            return locate(raw_dir)
        except CorpusLayoutError:
            pass
    corpus_dir = Path(raw_dir) / FOLDER
    extract_archive(fetch(URL, corpus_dir / ARCHIVE, sha256=ARCHIVE_SHA256, force=force), corpus_dir, force=force)
    return locate(raw_dir)


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    for folder in emotion_folders(Path(corpus_dir)):
        letter = EMOTION_FOLDERS[_nfc(folder.name)]
        for path in (p for p in list_files(folder, "*", recursive=True) if p.suffix.lower() in AUDIO_SUFFIXES):
            match = FILE_NAME.fullmatch(path.stem)
            if match is None:
                ctx.problem(path, "file name is not AA-E-I-S (or AA-N-S for neutral)")
                continue
            actor, file_letter, intensity, sentence = match.groups()
            inner = [_nfc(part) for part in path.relative_to(folder).parts[:-1]]
            expected = [k for k, v in INTENSITY_FOLDERS.items() if v == intensity]
            if file_letter != letter or inner != expected or not 1 <= int(actor) <= 12:
                ctx.problem(path, f"name {path.stem} does not fit its folder {folder.name}/{'/'.join(inner)} "
                                  "(emotion letter, intensity folder Faible/Fort, actor 01-12)")  # fmt: skip
                continue
            emotion = ctx.label(path, letter, LABELS)
            if emotion is None:
                continue
            yield Utterance(
                dataset=CORPUS, native_id=path.stem, source=path, speaker_id=actor, raw_label=letter, emotion=emotion,
                text=SENTENCES[sentence], language=LANGUAGE, gender="male" if int(actor) % 2 else "female",
                intensity=INTENSITIES.get(intensity),
            )  # fmt: skip
