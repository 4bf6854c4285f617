"""CREMA-D: the Crowd-sourced Emotional Multimodal Actors Dataset (Cao et al., 2014).

7,442 clips from 91 actors (48 male, 43 female) each saying some of 12 sentences in six emotions;
the sentence IEO was also recorded at low, medium and high intensity. Layout under `--raw_dir`
(a git-LFS clone of CheyneyComputerScience/CREMA-D, or its GitLab mirror):

    CREMA-D/AudioWAV/1001_DFA_ANG_XX.wav     16 kHz mono wav, AAAA_SSS_EEE_LL
    CREMA-D/VideoDemographics.csv            ActorID, Age, Sex, Race, Ethnicity (optional: gives gender)
    CREMA-D/VideoFlash/1001_DFA_ANG_XX.flv   the audio-visual clip (optional: becomes media_path)

AAAA is the actor, SSS the sentence code, EEE the emotion (ANG DIS FEA HAP NEU SAD) and LL the
emotion level (LO MD HI, XX unspecified). An unknown sentence, emotion or level code is an error:
a transcript is never guessed. A clone made without git-LFS holds small pointer files instead of
audio; they are reported as such, with the command that fetches the audio.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..manifest import CORPORA
from ..textio import UnreadableRecord, csv_rows
from .common import ParseContext, Utterance, located_or_manual
from .layout import find_corpus_dir, list_files

NAME = "cremad"
CORPUS = CORPORA[NAME]
FOLDER = "CREMA-D"
LANGUAGE = "en"
LICENCE = "ODbL 1.0 (database), DbCL 1.0 (contents)"
# GitHub's zip of the repository unpacks to CREMA-D-master/; a clone of the GitLab mirror is crema-d-mirror/.
ARCHIVE_FOLDERS: tuple[str, ...] = ("CREMA-D-master", "crema-d-mirror")
AUDIO_FOLDER = "AudioWAV"
VIDEO_FOLDER = "VideoFlash"
DEMOGRAPHICS = "VideoDemographics.csv"
SENTENCE_TABLE = "SentenceFilenames.csv"
GIT_URL = "https://github.com/CheyneyComputerScience/CREMA-D.git"
MIRROR_URL = "https://gitlab.com/cs-cooper-lab/crema-d-mirror.git"

SENTENCES: dict[str, str] = {
    "IEO": "It's eleven o'clock.",
    "TIE": "That is exactly what happened.",
    "IOM": "I'm on my way to the meeting.",
    "IWW": "I wonder what this is about.",
    "TAI": "The airplane is almost full.",
    "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.",
    "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.",
    "ITS": "I think I've seen this before.",
    "TSI": "The surface is slick.",
    "WSI": "We'll stop in a couple of minutes.",
}
# Raw label (the emotion code) -> canonical emotion.
LABELS: dict[str, str | None] = {
    "ANG": "anger",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "joy",
    "NEU": "neutral",
    "SAD": "sadness",
}
LEVELS: dict[str, str | None] = {"LO": "low", "MD": "medium", "HI": "high", "XX": None}
SEXES: dict[str, str] = {"Male": "male", "Female": "female"}

CLIP_NAME = re.compile(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})")
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"


@dataclass(frozen=True)
class Clip:
    actor: str
    sentence: str
    emotion: str
    level: str


def parse_clip_name(stem: str) -> Clip:
    """Split and check AAAA_SSS_EEE_LL; a ValueError says which code is unknown."""
    match = CLIP_NAME.fullmatch(stem)
    if match is None:
        raise ValueError(f"clip name {stem!r} is not AAAA_SSS_EEE_LL (actor_sentence_emotion_level)")
    clip = Clip(*match.groups())
    for what, code, known in (
        ("sentence", clip.sentence, SENTENCES),
        ("emotion", clip.emotion, LABELS),
        ("emotion level", clip.level, LEVELS),
    ):
        if code not in known:
            raise ValueError(f"unknown {what} code {code!r} in {stem!r}; CREMA-D defines {sorted(known)}")
    return clip


def read_demographics(path: Path, ctx: ParseContext) -> dict[str, str]:
    """Actor id -> "male"/"female" from VideoDemographics.csv. A wrong header is a problem of the file; a bad
    row (or one that is not UTF-8) is a problem of its line, and that actor's gender stays unknown."""
    rows = csv_rows(path)
    header = next(rows, None)
    columns = [] if header is None or isinstance(header, UnreadableRecord) else [c.strip() for c in header.cells]
    missing = [c for c in ("ActorID", "Sex") if c not in columns]
    if missing:
        ctx.problem(path, f"missing column(s) {missing}; expected ActorID, Age, Sex, Race, Ethnicity")
        return {}
    genders = {}
    for row in rows:
        if isinstance(row, UnreadableRecord):
            ctx.problem(f"{path}:{row.line}", row.reason)
            continue
        cells = dict(zip(columns, (c.strip() for c in row.cells), strict=False))
        actor, sex = cells.get("ActorID", ""), cells.get("Sex", "")
        if not re.fullmatch(r"\d{4}", actor) or sex not in SEXES:
            ctx.problem(f"{path}:{row.line}", f"expected a 4-digit ActorID and Sex Male/Female, got {row.cells}")
            continue
        genders[actor] = SEXES[sex]
    return genders


def read_sentence_table(path: Path) -> list[str]:
    """Clip names listed in SentenceFilenames.csv (Stimulus_Number, Filename), in file order."""
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        return [row["Filename"].strip() for row in csv.DictReader(handle)]


def _is_lfs_pointer(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(LFS_POINTER_PREFIX)) == LFS_POINTER_PREFIX


def locate(raw_dir: Path | str) -> Path:
    return find_corpus_dir(
        raw_dir,
        CORPUS,
        FOLDER,
        lambda p: (p / AUDIO_FOLDER).is_dir(),
        f"{AUDIO_FOLDER}/AAAA_SSS_EEE_LL.wav",
        ARCHIVE_FOLDERS,
    )


def manual_instructions(corpus_dir: Path) -> str:
    return (
        "CREMA-D's audio is stored with git-LFS, which a plain download or GitHub's zip does not fetch "
        "(it gives small pointer files instead of audio). Install git-lfs (`git lfs install`), then: "
        f"`GIT_LFS_SKIP_SMUDGE=1 git clone {GIT_URL} {corpus_dir}` and, inside it, "
        '`git lfs pull --include "AudioWAV/*"` (add `,VideoFlash/*` for the face videos); '
        f"or clone the GitLab mirror {MIRROR_URL} the same way. The builder reads "
        f"{corpus_dir / AUDIO_FOLDER}/*.wav and, for gender, {corpus_dir / DEMOGRAPHICS} (part of the clone)."
    )


def download(raw_dir: Path | str, force: bool = False) -> Path:
    """CREMA-D cannot be fetched by a script here: say exactly how to get it."""
    return located_or_manual(raw_dir, locate, CORPUS, FOLDER, manual_instructions)


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    corpus_dir = Path(corpus_dir)
    genders: dict[str, str] = {}
    demographics = corpus_dir / DEMOGRAPHICS
    if demographics.is_file():
        genders = read_demographics(demographics, ctx)
    for path in list_files(corpus_dir / AUDIO_FOLDER, "*.wav"):
        try:
            clip = parse_clip_name(path.stem)
        except ValueError as exc:
            ctx.problem(path, str(exc))
            continue
        if _is_lfs_pointer(path):
            ctx.problem(path, f"a git-LFS pointer, not audio. {manual_instructions(corpus_dir)}")
            continue
        emotion = ctx.label(path, clip.emotion, LABELS)
        if emotion is None:
            continue
        video = corpus_dir / VIDEO_FOLDER / f"{path.stem}.flv"
        yield Utterance(
            dataset=CORPUS,
            native_id=path.stem,
            source=path,
            speaker_id=clip.actor,
            raw_label=clip.emotion,
            emotion=emotion,
            text=SENTENCES[clip.sentence],
            language=LANGUAGE,
            gender=genders.get(clip.actor),
            media_path=video if video.is_file() else None,
            intensity=LEVELS[clip.level],
        )
