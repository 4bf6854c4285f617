"""EmoDB: the Berlin Database of Emotional Speech (Burkhardt, Paeschke, Rolfes, Sendlmeier & Weiss, 2005).

Ten actors (five female, five male) read ten everyday German sentences in seven emotions: 535
utterances kept after a perception test, 16 kHz mono wav. Layout under `--raw_dir` (the official
`download.zip` unpacks its folders directly, so they go into an `EmoDB/` folder, or one named after
the zip):

    EmoDB/wav/03a01Fa.wav         the utterances
    EmoDB/lablaut/ labsilb/ silb/ phonetic label files (not used)
    EmoDB/erkennung.txt           perception-test results (not used)

A file name is SS TTT E V: speaker (03 ... 16), sentence code (a01 ... b10), emotion letter
(German initials) and a version letter (a, b, c, ... for repeated takes of the same sentence).

| letter | German | canonical |
|---|---|---|
| W | Ärger (Wut) | anger |
| L | Langeweile | boredom: dropped, or neutral with `--emodb_boredom map_to_neutral` |
| E | Ekel | disgust |
| A | Angst | fear |
| F | Freude | joy |
| T | Trauer | sadness |
| N | neutral | neutral |

The sentences are the same for every emotion, so the transcript says nothing about the label.
Language `de`. Licence: free to use as published on emodb.bilderbar.info (audEERING republishes it
as CC0 1.0); the zip may be fetched by a script, so `download` does (no checksum is published, so
none is recorded).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..download import extract_archive, fetch
from ..manifest import CORPORA
from .common import CorpusLayoutError, ParseContext, Utterance
from .layout import find_corpus_dir, list_files

NAME = "emodb"
CORPUS = CORPORA[NAME]
FOLDER = "EmoDB"
LANGUAGE = "de"
LICENCE = "free to use (emodb.bilderbar.info); republished by audEERING as CC0 1.0"
URL = "http://emodb.bilderbar.info/download/download.zip"
ARCHIVE = "download.zip"
ARCHIVE_SHA256: str | None = None  # the authors publish no checksum; none is invented
ARCHIVE_FOLDERS: tuple[str, ...] = ("download", "emodb", "emo-db", "EMO-DB")

# Speaker -> (gender, age) from the corpus documentation.
SPEAKERS: dict[str, tuple[str, int]] = {
    "03": ("male", 31),
    "08": ("female", 34),
    "09": ("female", 21),
    "10": ("male", 32),
    "11": ("male", 26),
    "12": ("male", 30),
    "13": ("female", 32),
    "14": ("female", 35),
    "15": ("male", 25),
    "16": ("female", 31),
}
SENTENCES: dict[str, str] = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
# Raw label (the emotion letter) -> canonical emotion; L (boredom) follows --emodb_boredom.
LABELS: dict[str, str | None] = {"W": "anger", "E": "disgust", "A": "fear", "F": "joy", "T": "sadness", "N": "neutral"}
POLICY_LABELS: dict[str, str] = {"L": "emodb_boredom"}
FILE_NAME = re.compile(r"(\d\d)([ab]\d\d)([A-Z])([a-z])")


def locate(raw_dir: Path | str) -> Path:
    return find_corpus_dir(
        raw_dir, CORPUS, FOLDER, lambda p: (p / "wav").is_dir(), "wav/SSTTTEV.wav (e.g. wav/03a01Fa.wav)",
        ARCHIVE_FOLDERS,
    )  # fmt: skip


def download(raw_dir: Path | str, force: bool = False) -> Path:
    """Fetch download.zip (resumable) and unpack it safely into `raw_dir/EmoDB`."""
    if not force:
        try:
            return locate(raw_dir)
        except CorpusLayoutError:
            pass
    corpus_dir = Path(raw_dir) / FOLDER
    archive = fetch(URL, corpus_dir / ARCHIVE, sha256=ARCHIVE_SHA256, force=force)
    extract_archive(archive, corpus_dir, force=force)
    return locate(raw_dir)


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    for path in list_files(Path(corpus_dir) / "wav", "*.wav"):
        match = FILE_NAME.fullmatch(path.stem)
        if match is None:
            ctx.problem(path, "file name is not SSTTTEV (speaker, sentence code, emotion letter, version)")
            continue
        speaker, sentence, letter, _ = match.groups()
        if speaker not in SPEAKERS or sentence not in SENTENCES:
            ctx.problem(path, f"unknown speaker {speaker} or sentence {sentence}; EmoDB has {sorted(SPEAKERS)}")
            continue
        emotion = ctx.label(path, letter, LABELS, POLICY_LABELS)
        if emotion is None:
            continue
        yield Utterance(
            dataset=CORPUS, native_id=path.stem, source=path, speaker_id=speaker, raw_label=letter,
            emotion=emotion, text=SENTENCES[sentence], language=LANGUAGE, gender=SPEAKERS[speaker][0],
        )  # fmt: skip
