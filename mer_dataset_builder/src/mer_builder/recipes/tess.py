"""TESS: the Toronto Emotional Speech Set (Dupuis & Pichora-Fuller, University of Toronto, 2010).

Two actresses, OAF (older adult female, 64) and YAF (younger adult female, 26), say the carrier
phrase "Say the word _" with each of 200 target words (NU-6) in seven emotions: 2,800 wavs at
24.4 kHz. Layout under `--raw_dir` (the Dataverse download; Kaggle's copy unpacks to
`TESS Toronto emotional speech set data/`, which is found as well):

    TESS/OAF_angry/OAF_back_angry.wav
    TESS/OAF_Pleasant_surprise/OAF_back_ps.wav
    TESS/YAF_pleasant_surprised/YAF_back_ps.wav

Folder spellings vary in the real release (`OAF_Fear`, `OAF_Sad`, `OAF_Pleasant_surprise` beside
`YAF_fear`, `YAF_sad`, `YAF_pleasant_surprised`) and file names spell the emotion their own way
(`ps` for pleasant surprise): the emotion comes from the folder, read case-insensitively with its
known variants, and the file's emotion must agree with it. The speaker comes from the folder too;
one real file is named `OA_bite_neutral.wav` inside `OAF_neutral/`: a file prefix that shortens the
folder's speaker is accepted with a note. A copy found twice (Kaggle nests the folder twice) is
counted once and reported.

| folder emotion | file token | canonical |
|---|---|---|
| angry | angry | anger |
| disgust | disgust | disgust |
| fear | fear | fear |
| happy | happy | joy |
| neutral | neutral | neutral |
| pleasant_surprise(d) | ps | surprise |
| sad | sad | sadness |

Text: "Say the word <word>." (the same words in every emotion, so no label leaks). With two
speakers, the default speaker-disjoint split puts one in train and one in test (no val); LOCO and
`--split_spec` still use it. Language `en`. Licence CC BY-NC-ND 4.0; the Dataverse serves files one
by one, so `download` says where to get the zip rather than fetching 2,800 files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..manifest import CORPORA
from .common import ParseContext, Utterance, located_or_manual
from .layout import find_corpus_dir, is_junk, list_files

NAME = "tess"
CORPUS = CORPORA[NAME]
FOLDER = "TESS"
LANGUAGE = "en"
LICENCE = "CC BY-NC-ND 4.0"
DOWNLOAD_PAGE = "https://doi.org/10.5683/SP2/E8H2MF"
ARCHIVE_FOLDERS: tuple[str, ...] = ("TESS Toronto emotional speech set data", "tess")
SPEAKERS: dict[str, tuple[str, int]] = {"OAF": ("female", 64), "YAF": ("female", 26)}
# Folder emotion (lower case, spelling variants folded) -> canonical emotion.
LABELS: dict[str, str | None] = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "joy",
    "neutral": "neutral",
    "pleasant_surprise": "surprise",
    "sad": "sadness",
}
FOLDER_VARIANTS: dict[str, str] = {"pleasant_surprised": "pleasant_surprise"}
FILE_TOKENS: dict[str, str] = {"ps": "pleasant_surprise"}
EMOTION_FOLDER = re.compile(r"([A-Za-z]{3})_([A-Za-z_]+)")
FILE_NAME = re.compile(r"([A-Za-z]+)_([a-z]+)_([a-z]+)")
SEARCH_DEPTH = 2


def folder_emotion(name: str) -> tuple[str, str] | None:
    """(speaker, emotion) of an emotion folder like `OAF_Pleasant_surprise`, or None."""
    match = EMOTION_FOLDER.fullmatch(name)
    if match is None or match[1].upper() not in SPEAKERS:
        return None
    emotion = match[2].lower()
    emotion = FOLDER_VARIANTS.get(emotion, emotion)
    return (match[1].upper(), emotion) if emotion in LABELS else None


def emotion_folders(corpus_dir: Path) -> list[tuple[Path, str, str]]:
    """(folder, speaker, emotion) of every `<SPEAKER>_<emotion>` folder at the top or up to two levels down,
    sorted by path."""
    found: list[tuple[Path, str, str]] = []
    level = [corpus_dir] if corpus_dir.is_dir() else []
    for _ in range(SEARCH_DEPTH + 1):
        children = sorted(c for f in level for c in f.iterdir() if c.is_dir() and not is_junk(c))
        named = {c: folder_emotion(c.name) for c in children}
        found += [(c, *known) for c, known in named.items() if known]
        level = [c for c, known in named.items() if not known]
    return sorted(found)


def locate(raw_dir: Path | str) -> Path:
    return find_corpus_dir(
        raw_dir, CORPUS, FOLDER, lambda p: bool(emotion_folders(p)), "OAF_angry/OAF_back_angry.wav folders",
        ARCHIVE_FOLDERS,
    )  # fmt: skip


def download(raw_dir: Path | str, force: bool = False) -> Path:
    return located_or_manual(
        raw_dir, locate, CORPUS, FOLDER,
        lambda corpus_dir: (
            f"TESS (CC BY-NC-ND 4.0) is on the University of Toronto Dataverse, {DOWNLOAD_PAGE}: use 'Access "
            f"Dataset' -> download all files as a zip, and unzip it so that {corpus_dir / 'OAF_angry'} exists "
            "(the 14 OAF_<emotion>/ and YAF_<emotion>/ folders)."
        ),
    )  # fmt: skip


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    seen: dict[str, Path] = {}
    for folder, speaker, raw in emotion_folders(Path(corpus_dir)):
        emotion = ctx.label(folder, raw, LABELS)
        for path in list_files(folder, "*.wav"):
            match = FILE_NAME.fullmatch(path.stem)
            if match is None:
                ctx.problem(path, "file name is not <SPEAKER>_<word>_<emotion>.wav")
                continue
            prefix, word, token = match.groups()
            notes = []
            if prefix.upper() != speaker:
                if not speaker.startswith(prefix.upper()):
                    ctx.problem(path, f"file prefix {prefix!r} does not match its folder's speaker {speaker}")
                    continue
                notes.append(f"the file name says {prefix!r}; the speaker is {speaker}, from its folder {folder.name}")
            if FILE_TOKENS.get(token, token) != raw:
                ctx.problem(path, f"the file name says {token!r} but it is in the {folder.name}/ folder")
                continue
            if emotion is None:
                continue
            native = f"{speaker}_{word}_{token}"
            if native in seen:
                ctx.drop(path, "duplicate of a file already read: counted once", duplicate_of=str(seen[native]))
                continue
            seen[native] = path
            yield Utterance(
                dataset=CORPUS, native_id=native, source=path, speaker_id=speaker, raw_label=raw, emotion=emotion,
                text=f"Say the word {word}.", language=LANGUAGE, gender=SPEAKERS[speaker][0], notes=notes,
            )  # fmt: skip
