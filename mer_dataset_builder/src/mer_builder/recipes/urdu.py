"""URDU: emotional speech from Urdu TV talk shows (Latif, Qayyum, Usman & Qadir, 2018).

400 utterances of 38 speakers (27 male, 11 female) cut from YouTube talk shows, in four emotions,
100 each. Layout under `--raw_dir` (the GitHub repository siddiquelatif/URDU-Dataset; its zip
unpacks to `URDU-Dataset-master/`, found as it lands):

    URDU/Angry/SM1_F10_A010.wav     S<gender><n>_F<file>_<emotion letter><number>
    URDU/Happy/SF1_F1_H01.wav

The speaker and gender come from the name (`SM1`: male speaker 1, `SF10`: female speaker 10), the
emotion from the folder, and the name's emotion letter must agree. Numbers are not zero-padded
consistently in the release (`A01`, `A010`, `A0100`): the whole stem is the id. Files may also sit
in per-speaker subfolders of an emotion folder (as the README describes).

| folder | letter | canonical |
|---|---|---|
| Angry | A | anger |
| Happy | H | joy |
| Neutral | N | neutral |
| Sad | S | sadness |

Spontaneous speech with no transcripts: the text is empty. Language `ur`. Licence: research use
only (the repository README); `download` fetches the repository zip from GitHub.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..download import extract_archive, fetch
from ..manifest import CORPORA
from .common import CorpusLayoutError, ParseContext, Utterance
from .layout import find_corpus_dir, list_files

NAME = "urdu"
CORPUS = CORPORA[NAME]
FOLDER = "URDU"
LANGUAGE = "ur"
LICENCE = "research use only (siddiquelatif/URDU-Dataset README)"
URL = "https://github.com/siddiquelatif/URDU-Dataset/archive/refs/heads/master.zip"
ARCHIVE = "URDU-Dataset-master.zip"
ARCHIVE_SHA256: str | None = None  # a GitHub branch archive has no fixed checksum
ARCHIVE_FOLDERS: tuple[str, ...] = ("URDU-Dataset-master", "URDU-Dataset")
EMOTION_FOLDERS: dict[str, str] = {"Angry": "A", "Happy": "H", "Neutral": "N", "Sad": "S"}
LABELS: dict[str, str | None] = {"A": "anger", "H": "joy", "N": "neutral", "S": "sadness"}
GENDERS: dict[str, str] = {"M": "male", "F": "female"}
FILE_NAME = re.compile(r"S([MF])(\d+)_F(\d+)_([AHNS])(\d+)")


def locate(raw_dir: Path | str) -> Path:
    return find_corpus_dir(
        raw_dir, CORPUS, FOLDER, lambda p: any((p / f).is_dir() for f in EMOTION_FOLDERS),
        "Angry/ Happy/ Neutral/ Sad/ folders of SM1_F1_A01.wav files", ARCHIVE_FOLDERS,
    )  # fmt: skip


def download(raw_dir: Path | str, force: bool = False) -> Path:
    """Fetch the repository zip (resumable) and unpack it safely into `raw_dir/URDU` (-> URDU-Dataset-master/)."""
    if not force:
        try:
            return locate(raw_dir)
        except CorpusLayoutError:
            pass
    corpus_dir = Path(raw_dir) / FOLDER
    extract_archive(fetch(URL, corpus_dir / ARCHIVE, sha256=ARCHIVE_SHA256, force=force), corpus_dir, force=force)
    return locate(raw_dir)


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    for folder_name, letter in EMOTION_FOLDERS.items():
        folder = Path(corpus_dir) / folder_name
        for path in list_files(folder, "*.wav", recursive=True) if folder.is_dir() else []:
            match = FILE_NAME.fullmatch(path.stem)
            if match is None:
                ctx.problem(path, "file name is not S<M|F><n>_F<k>_<A|H|N|S><number>.wav")
                continue
            gender, number, _, file_letter, _ = match.groups()
            if file_letter != letter:
                ctx.problem(path, f"the name's emotion letter {file_letter} does not match its folder {folder_name}/")
                continue
            emotion = ctx.label(path, letter, LABELS)
            if emotion is None:
                continue
            yield Utterance(
                dataset=CORPUS, native_id=path.stem, source=path, speaker_id=f"S{gender}{number}", raw_label=letter,
                emotion=emotion, text="", language=LANGUAGE, gender=GENDERS[gender],
            )  # fmt: skip
