"""MEAD: the Multi-view Emotional Audio-visual Dataset (Wang et al., ECCV 2020), acted talking faces.

Actors named `M###` (male) and `W###` (female) read sentences in eight emotions at three
intensity levels (neutral at level 1 only), filmed from seven views. This recipe reads
Part0's per-actor audio and, where unpacked, the front-view video.

Native layout under `--raw_dir`, one folder per actor, each the unpacked `audio.tar`
(and `video.tar`) from the authors' download:

    MEAD/M003/audio/<emotion>/level_<k>/<NNN>.m4a
    MEAD/M003/video/front/<emotion>/level_<k>/<NNN>.mp4      (optional: becomes media_path)
    MEAD/mead_sentences.csv                                  (optional: emotion,sentence_id,text)

An actor folder that still holds only `audio.tar` is unpacked in place (safely: no member
may land outside the actor folder) the first time it is parsed. `video.tar` (all seven
views, many GB) is left for the user to unpack; until then its clips carry a note.

Emotion folders: angry, contempt, disgusted, fear, happy, neutral, sad, surprised.
`contempt` is outside the label space: dropped, or mapped to disgust by
`--mead_contempt map_to_disgust`. Labels, speaker and intensity come from the path
components below the MEAD folder, never from substrings of the absolute path (a corpus
kept under `/data/angry_W009/` must not turn every clip into anger by W009).

MEAD ships no transcripts. `mead_sentences.csv` maps (emotion folder, sentence number)
to the sentence read; without it the text is empty and a note says so.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from ..download import DownloadError, extract_archive
from ..manifest import CORPORA
from ..textio import UnreadableRecord, csv_rows
from .common import CorpusLayoutError, ManualDownloadRequired, ParseContext, Utterance
from .layout import find_corpus_dir, find_under, is_junk

NAME = "mead"
CORPUS = CORPORA[NAME]
FOLDER = "MEAD"
LANGUAGE = "en"
LICENCE = "research use, by request to the MEAD authors"
PROJECT_PAGE = "https://wywu.github.io/projects/MEAD/MEAD.html"

ACTOR_PATTERN = re.compile(r"^([MW])\d{3}$")
GENDERS = {"M": "male", "W": "female"}
LEVEL_PATTERN = re.compile(r"^level_\d+$")
CLIP_PATTERN = re.compile(r"^(\d{3})\.m4a$")
VIEW = "front"
SENTENCES_CSV = "mead_sentences.csv"
SENTENCES_COLUMNS = ("emotion", "sentence_id", "text")

# MEAD emotion folder -> canonical emotion. `contempt` is governed by --mead_contempt.
LABELS: dict[str, str | None] = {
    "angry": "anger",
    "disgusted": "disgust",
    "fear": "fear",
    "happy": "joy",
    "neutral": "neutral",
    "sad": "sadness",
    "surprised": "surprise",
}
POLICY_LABELS: dict[str, str] = {"contempt": "mead_contempt"}
NO_TRANSCRIPTS_NOTE = f"MEAD ships no transcripts; add {FOLDER}/{SENTENCES_CSV} ({','.join(SENTENCES_COLUMNS)})"
PACKED_VIDEO_NOTE = "no front video: it is still packed in video.tar (unpack it in the actor folder for media_path)"
EXPECTED = "<ACTOR>/audio/<emotion>/level_<k>/<NNN>.m4a with actors like M003, W009"
INSTRUCTIONS = (
    f"MEAD is shared through the authors' Google Drive (linked from {PROJECT_PAGE}), which a script may not "
    "fetch. From Part0, download each actor's audio.tar (and video.tar for face features) into "
    "<raw_dir>/MEAD/<ACTOR>/ (e.g. <raw_dir>/MEAD/M003/audio.tar) and unpack them there with `tar -xf audio.tar`, "
    "which gives <ACTOR>/audio/<emotion>/level_<k>/<NNN>.m4a (video.tar gives <ACTOR>/video/front/...); an "
    "actor folder still holding audio.tar is unpacked by the builder. Optionally add "
    f"<raw_dir>/MEAD/{SENTENCES_CSV} with columns {','.join(SENTENCES_COLUMNS)} for transcripts."
)


def _actor_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and ACTOR_PATTERN.match(p.name))


def _is_root(folder: Path) -> bool:
    return any((a / "audio").is_dir() or (a / "audio.tar").is_file() for a in _actor_dirs(folder))


def locate(raw_dir: Path | str) -> Path:
    return find_corpus_dir(raw_dir, CORPUS, FOLDER, _is_root, EXPECTED)


def download(raw_dir: Path | str, force: bool = False) -> Path:
    """MEAD is gated: returns the corpus if it is already in place, else says exactly where to put it."""
    try:
        return locate(raw_dir)
    except CorpusLayoutError as exc:
        raise ManualDownloadRequired(CORPUS, Path(raw_dir) / FOLDER, f"{exc.reason}. {INSTRUCTIONS}") from None


def _read_sentences(path: Path, ctx: ParseContext) -> dict[tuple[str, int], str] | None:
    """(emotion folder, sentence number) -> text, or None when the optional CSV is absent or its header is
    wrong; a bad row (or one that is not UTF-8) is a problem at its line, and the rows after it are read."""
    if not path.is_file():
        return None
    rows = csv_rows(path)
    header = next(rows, None)
    columns = () if header is None or isinstance(header, UnreadableRecord) else tuple(c.strip() for c in header.cells)
    if columns != SENTENCES_COLUMNS:
        ctx.problem(path, f"columns {list(columns)} are not {list(SENTENCES_COLUMNS)}")
        return None
    sentences: dict[tuple[str, int], str] = {}
    for row in rows:
        if isinstance(row, UnreadableRecord):
            ctx.problem(f"{path}:{row.line}", row.reason)
            continue
        where = f"{path}:{row.line}"
        emotion, number, text = ([*(c.strip() for c in row.cells), "", "", ""])[:3]
        if emotion not in LABELS and emotion not in POLICY_LABELS:
            ctx.problem(where, f"emotion {emotion!r} is not a MEAD folder ({sorted(LABELS | POLICY_LABELS)})")
            continue
        if not number.isdigit() or not text:
            ctx.problem(where, f"expected a sentence number and a text, got {number!r}, {text!r}")
            continue
        key = (emotion, int(number))
        if sentences.get(key, text) != text:
            ctx.problem(where, f"sentence {emotion}/{number} already has a different text")
            continue
        sentences[key] = text
    return sentences


def _audio_root(actor_dir: Path, ctx: ParseContext) -> Path | None:
    """`<actor>/audio`, unpacking `<actor>/audio.tar` into it first if that is all there is."""
    audio = actor_dir / "audio"
    if audio.is_dir():
        return audio
    archive = actor_dir / "audio.tar"
    if not archive.is_file():
        ctx.problem(actor_dir, f"neither audio/ nor audio.tar inside; expected {EXPECTED}")
        return None
    staging = actor_dir / ".audio.unpacking"  # unpacked here, then renamed: an interrupted run leaves no half audio/
    try:
        extract_archive(archive, staging)
    except DownloadError as exc:
        ctx.problem(archive, str(exc).removeprefix(f"{archive}: "))
        return None
    unpacked = find_under(staging, "audio", want_dir=True, depth=1)
    if unpacked is None:
        ctx.problem(archive, "holds no audio/ folder; expected audio/<emotion>/level_<k>/<NNN>.m4a")
        return None
    unpacked.replace(audio)
    shutil.rmtree(staging)
    return audio


def _transcript(sentences: dict[tuple[str, int], str] | None, raw: str, number: int) -> tuple[str, list[str]]:
    if sentences is None:
        return "", [NO_TRANSCRIPTS_NOTE]
    text = sentences.get((raw, number))
    return (text, []) if text else ("", [f"sentence {raw}/{number:03d} is not in {SENTENCES_CSV}"])


def _parse_actor(actor_dir: Path, sentences: dict | None, ctx: ParseContext) -> Iterator[Utterance]:
    audio_root = _audio_root(actor_dir, ctx)
    if audio_root is None:
        return
    actor = actor_dir.name
    video_packed = (actor_dir / "video.tar").is_file() and not (actor_dir / "video").is_dir()
    for path in sorted(audio_root.rglob("*")):
        parts = path.relative_to(audio_root).parts  # only components below <actor>/audio carry meaning
        if path.is_dir() or any(is_junk(Path(part)) for part in parts):
            continue
        clip = CLIP_PATTERN.match(parts[-1])
        if len(parts) != 3 or not LEVEL_PATTERN.match(parts[1]) or clip is None:
            ctx.problem(path, f"unexpected file; expected {actor}/audio/<emotion>/level_<k>/<NNN>.m4a")
            continue
        raw, level, number = parts[0], parts[1], clip.group(1)
        emotion = ctx.label(path, raw, LABELS, POLICY_LABELS)
        if emotion is None:
            continue
        video = actor_dir / "video" / VIEW / raw / level / f"{number}.mp4"
        text, notes = _transcript(sentences, raw, int(number))
        if not video.is_file() and video_packed:
            notes.append(PACKED_VIDEO_NOTE)
        yield Utterance(
            dataset=CORPUS,
            native_id=f"{actor}_{raw}_{level}_{number}",
            source=path,
            speaker_id=actor,
            raw_label=raw,
            emotion=emotion,
            text=text,
            language=LANGUAGE,
            gender=GENDERS[actor[0]],
            media_path=video if video.is_file() else None,
            intensity=level,
            notes=notes,
        )


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    corpus_dir = Path(corpus_dir)
    sentences = _read_sentences(corpus_dir / SENTENCES_CSV, ctx)
    for child in sorted(corpus_dir.iterdir()):
        if child.is_dir() and not is_junk(child) and not ACTOR_PATTERN.match(child.name):
            ctx.drop(child, "not an actor folder (expected M### or W###): its contents are not read")
    for actor_dir in _actor_dirs(corpus_dir):
        yield from _parse_actor(actor_dir, sentences, ctx)
