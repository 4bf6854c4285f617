"""ESD: the Emotional Speech Dataset (Zhou, Sisman, Liu & Li, 2021).

350 parallel sentences read by 10 Mandarin (0001-0010) and 10 English (0011-0020) speakers in five
emotions: 17,500 utterances, 16 kHz wav. Layout under `--raw_dir` (the release zip unpacked):

    ESD/Emotion Speech Dataset/0011/0011.txt                       id<TAB>text<TAB>emotion, one line per utterance
    ESD/Emotion Speech Dataset/0011/Angry/0011_000351.wav          flat copies, or
    ESD/Emotion Speech Dataset/0011/Angry/train/0011_000351.wav    train/, evaluation/, test/ subfolders

The `Emotion Speech Dataset` level may be left out (speaker folders directly in `ESD/`). The
transcript is the text column only; the emotion column is the label (Mandarin speakers write it in
Chinese: 中立 生气 快乐 伤心 惊喜) and must agree with the emotion folder the wav is in. Some
lines carry stray spaces around the label (0016 has "Surprise "); they are stripped. Gender comes
from the speaker table in the ReadMe shipped with the release. The official train/evaluation/test
subfolders are not speaker-disjoint, so the builder ignores them and makes its own splits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..manifest import CORPORA
from ..textio import readable_lines
from .common import ParseContext, Utterance, located_or_manual
from .layout import find_corpus_dir, is_junk, list_files

NAME = "esd"
CORPUS = CORPORA[NAME]
FOLDER = "ESD"
INNER_FOLDER = "Emotion Speech Dataset"
LICENCE = "ESD licence agreement: non-commercial research use"
# The release zip unpacks to "Emotion Speech Dataset/"; some copies keep the zip's own name as a folder above it.
ARCHIVE_FOLDERS: tuple[str, ...] = (INNER_FOLDER, "Emotional Speech Dataset (ESD)")
DOWNLOAD_PAGE = "https://github.com/HLTSingapore/Emotional-Speech-Data"

# Speaker -> (language, gender), as listed in the ReadMe of the ESD release.
SPEAKERS: dict[str, tuple[str, str]] = {
    "0001": ("zh", "female"),
    "0002": ("zh", "female"),
    "0003": ("zh", "female"),
    "0004": ("zh", "male"),
    "0005": ("zh", "male"),
    "0006": ("zh", "male"),
    "0007": ("zh", "female"),
    "0008": ("zh", "male"),
    "0009": ("zh", "female"),
    "0010": ("zh", "male"),
    "0011": ("en", "male"),
    "0012": ("en", "male"),
    "0013": ("en", "male"),
    "0014": ("en", "male"),
    "0015": ("en", "female"),
    "0016": ("en", "female"),
    "0017": ("en", "female"),
    "0018": ("en", "female"),
    "0019": ("en", "female"),
    "0020": ("en", "male"),
}
# Raw label (the txt's emotion column, English or Chinese) -> canonical emotion.
LABELS: dict[str, str | None] = {
    "Neutral": "neutral",
    "Angry": "anger",
    "Happy": "joy",
    "Sad": "sadness",
    "Surprise": "surprise",
    "中立": "neutral",
    "生气": "anger",
    "快乐": "joy",
    "伤心": "sadness",
    "惊喜": "surprise",
}
# Audio folder -> canonical emotion (the same folder names for both languages), in the order of the
# corpus's id blocks: Neutral 000001-000350, Angry 000351-000700, Happy, Sad, Surprise 001401-001750.
EMOTION_FOLDERS: dict[str, str] = {
    "Neutral": "neutral",
    "Angry": "anger",
    "Happy": "joy",
    "Sad": "sadness",
    "Surprise": "surprise",
}
SPLIT_FOLDERS: frozenset[str] = frozenset({"train", "evaluation", "test"})
SPEAKER_FOLDER = re.compile(r"\d{4}")


@dataclass(frozen=True)
class TranscriptLine:
    text: str
    raw_label: str
    where: str  # "<txt>:<line number>", for messages


def speaker_root(corpus_dir: Path) -> Path | None:
    """The folder that holds the speaker folders: `Emotion Speech Dataset/` inside `corpus_dir`, or `corpus_dir`."""
    for root in (corpus_dir / INNER_FOLDER, corpus_dir):
        if root.is_dir() and any(p.is_dir() and SPEAKER_FOLDER.fullmatch(p.name) for p in root.iterdir()):
            return root
    return None


def read_transcripts(path: Path, ctx: ParseContext) -> dict[str, TranscriptLine]:
    """Utterance id -> line of a speaker's txt; malformed lines and unknown labels are problems."""
    out: dict[str, TranscriptLine] = {}
    for number, line in readable_lines(path, lambda bad: ctx.problem(f"{path}:{bad.line}", bad.reason)):
        where = f"{path}:{number}"
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) != 3:
            ctx.problem(where, f"expected id<TAB>text<TAB>emotion, got {len(columns)} column(s): {line!r}")
            continue
        utt_id, text, raw_label = (c.strip() for c in columns)
        if not text:
            ctx.problem(where, f"empty transcript for {utt_id}")
        elif raw_label not in LABELS:
            ctx.problem(where, f"unknown emotion {raw_label!r}; ESD labels are {sorted(LABELS)}")
        elif utt_id in out:
            ctx.problem(where, f"{utt_id} is listed twice (first at {out[utt_id].where})")
        else:
            out[utt_id] = TranscriptLine(text, raw_label, where)
    return out


def locate(raw_dir: Path | str) -> Path:
    return find_corpus_dir(
        raw_dir,
        CORPUS,
        FOLDER,
        lambda p: speaker_root(p) is not None,
        f"'{INNER_FOLDER}/00XX/00XX.txt' and '00XX/<Emotion>/' speaker folders",
        ARCHIVE_FOLDERS,
    )


def download(raw_dir: Path | str, force: bool = False) -> Path:
    """ESD is shared through Google Drive after agreeing to its licence: say where to put it."""
    return located_or_manual(
        raw_dir, locate, CORPUS, FOLDER,
        lambda corpus_dir: (
            f"ESD is distributed through a Google Drive link given on {DOWNLOAD_PAGE} (research use only; "
            "sign the licence agreement there). Download 'Emotional Speech Dataset (ESD).zip' and unzip it so "
            f"that {corpus_dir / INNER_FOLDER / '0001' / '0001.txt'} exists (speaker folders 0001-0020, each "
            "with 00XX.txt and Angry/ Happy/ Neutral/ Sad/ Surprise/)."
        ),
    )  # fmt: skip


def _speaker_wavs(speaker_dir: Path, ctx: ParseContext) -> Iterator[tuple[str, Path]]:
    """(emotion folder, wav) for both layouts: `<Emotion>/*.wav` and `<Emotion>/<split>/*.wav`."""
    for folder in sorted(p for p in speaker_dir.iterdir() if p.is_dir() and not is_junk(p)):
        if folder.name not in EMOTION_FOLDERS:
            if list_files(folder, "*.wav", recursive=True):
                ctx.problem(folder, f"unknown emotion folder; expected one of {sorted(EMOTION_FOLDERS)}")
            continue
        for path in list_files(folder, "*.wav", recursive=True):
            inner = path.relative_to(folder).parts[:-1]
            if len(inner) > 1 or (inner and inner[0] not in SPLIT_FOLDERS):
                ctx.problem(path, f"unexpected folder; wavs sit in {folder}/ or its {sorted(SPLIT_FOLDERS)} subfolders")
                continue
            yield folder.name, path


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    root = speaker_root(Path(corpus_dir))
    if root is None:
        ctx.problem(corpus_dir, f"no speaker folders (00XX) in it or in its '{INNER_FOLDER}' folder")
        return
    for speaker_dir in sorted(p for p in root.iterdir() if p.is_dir() and SPEAKER_FOLDER.fullmatch(p.name)):
        speaker = speaker_dir.name
        wavs = list(_speaker_wavs(speaker_dir, ctx))
        if not wavs:
            continue
        if speaker not in SPEAKERS:
            ctx.problem(speaker_dir, f"unknown speaker {speaker}; ESD speakers are 0001-0020")
            continue
        language, gender = SPEAKERS[speaker]
        transcript_path = speaker_dir / f"{speaker}.txt"
        if not transcript_path.is_file():
            ctx.problem(transcript_path, f"missing transcript file for the {len(wavs)} wavs of speaker {speaker}")
            continue
        transcripts = read_transcripts(transcript_path, ctx)
        seen: dict[str, Path] = {}
        for folder, path in wavs:
            utt_id = path.stem
            if not re.fullmatch(rf"{speaker}_\d{{6}}", utt_id):
                ctx.problem(path, f"file name is not {speaker}_NNNNNN.wav")
                continue
            if utt_id in seen:
                ctx.drop(path, "duplicate of a file already read: counted once", duplicate_of=str(seen[utt_id]))
                continue
            line = transcripts.get(utt_id)
            if line is None:
                ctx.problem(path, f"no line for {utt_id} in {transcript_path}")
                continue
            emotion = ctx.label(path, line.raw_label, LABELS)
            if emotion is None:
                continue
            if emotion != EMOTION_FOLDERS[folder]:
                ctx.problem(path, f"{line.where} labels it {line.raw_label!r} but the wav is in the {folder}/ folder")
                continue
            seen[utt_id] = path
            yield Utterance(
                dataset=CORPUS,
                native_id=utt_id,
                source=path,
                speaker_id=speaker,
                raw_label=line.raw_label,
                emotion=emotion,
                text=line.text,
                language=language,
                gender=gender,
            )
