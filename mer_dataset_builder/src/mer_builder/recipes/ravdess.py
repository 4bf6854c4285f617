"""RAVDESS: the Ryerson Audio-Visual Database of Emotional Speech and Song (Livingstone & Russo, 2018).

24 professional actors (odd-numbered male, even-numbered female) say two lexically matched
statements in eight emotions; every emotion except neutral at two intensities, twice each:
1,440 audio-only speech files, 48 kHz 16-bit wav. Layout under `--raw_dir`:

    RAVDESS/Actor_01/03-01-05-01-02-01-01.wav   audio-only speech (Audio_Speech_Actors_01-24.zip)
    RAVDESS/Actor_01/01-01-05-01-02-01-01.mp4   full audio-video (Video_Speech_Actor_01.zip), optional
    RAVDESS/Actor_01/02-01-05-01-02-01-01.mp4   video-only, optional

A file name is MM-VC-EE-II-SS-RR-AA: modality (01 full audio-video, 02 video-only, 03 audio-only),
vocal channel (01 speech, 02 song), emotion, intensity (01 normal, 02 strong; neutral has only 01),
statement, repetition (01, 02), actor (01-24). The audio-only speech files are the utterances; the
full audio-video file of the same trial (else the video-only one) becomes `media_path`. Song files,
videos whose trial has no audio-only file, and a video-only file whose full audio-video twin is the
media are dropped and counted. Emotion 02 (calm) follows `--ravdess_calm`. Some wavs are stereo and
every wav has extra RIFF chunks (FLLR before `data`; LIST, bext after): `mer_builder.audio` reads them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..download import extract_archive, fetch
from ..manifest import CORPORA
from .common import CorpusLayoutError, ParseContext, Utterance
from .layout import find_corpus_dir, is_junk

NAME = "ravdess"
CORPUS = CORPORA[NAME]
FOLDER = "RAVDESS"
LANGUAGE = "en"
LICENCE = "CC BY-NC-SA 4.0"
# The folder Audio_Speech_Actors_01-24.zip is usually unpacked into (the zip itself holds Actor_XX/ only).
ARCHIVE_FOLDERS: tuple[str, ...] = ("Audio_Speech_Actors_01-24",)

ARCHIVE = "Audio_Speech_Actors_01-24.zip"
URL = f"https://zenodo.org/records/1188976/files/{ARCHIVE}?download=1"

MODALITIES: dict[str, str] = {"01": "full audio-video", "02": "video-only", "03": "audio-only"}
MODALITY_SUFFIX: dict[str, str] = {"01": ".mp4", "02": ".mp4", "03": ".wav"}
VOCAL_CHANNELS: dict[str, str] = {"01": "speech", "02": "song"}
# Emotion code -> the corpus's own label name (the manifest's raw_label).
EMOTION_CODES: dict[str, str] = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
# Raw label -> canonical emotion. "calm" is governed by --ravdess_calm.
LABELS: dict[str, str | None] = {
    "neutral": "neutral",
    "happy": "joy",
    "sad": "sadness",
    "angry": "anger",
    "fearful": "fear",
    "disgust": "disgust",
    "surprised": "surprise",
}
POLICY_LABELS: dict[str, str] = {"calm": "ravdess_calm"}
INTENSITIES: dict[str, str] = {"01": "normal", "02": "strong"}
STATEMENTS: dict[str, str] = {"01": "Kids are talking by the door.", "02": "Dogs are sitting by the door."}
REPETITIONS: frozenset[str] = frozenset({"01", "02"})
ACTORS = range(1, 25)

FILE_NAME = re.compile(r"(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)")
ACTOR_FOLDER = re.compile(r"Actor_(\d\d)")


@dataclass(frozen=True)
class Trial:
    """The seven two-digit codes of a RAVDESS file name."""

    modality: str
    vocal_channel: str
    emotion: str
    intensity: str
    statement: str
    repetition: str
    actor: str

    @property
    def key(self) -> str:
        """The trial without its modality: the audio-only, full-AV and video-only files of one take share it."""
        return "-".join((self.vocal_channel, self.emotion, self.intensity, self.statement, self.repetition, self.actor))


def parse_file_name(stem: str) -> Trial:
    """Split and check a file name; a ValueError says which code is unknown."""
    match = FILE_NAME.fullmatch(stem)
    if match is None:
        raise ValueError(f"file name {stem!r} is not MM-VC-EE-II-SS-RR-AA (seven two-digit codes)")
    trial = Trial(*match.groups())
    checks = (
        ("modality", trial.modality, MODALITIES),
        ("vocal channel", trial.vocal_channel, VOCAL_CHANNELS),
        ("emotion", trial.emotion, EMOTION_CODES),
        ("intensity", trial.intensity, INTENSITIES),
        ("statement", trial.statement, STATEMENTS),
        ("repetition", trial.repetition, REPETITIONS),
    )
    for what, code, known in checks:
        if code not in known:
            raise ValueError(f"unknown {what} code {code!r} in {stem!r}; expected one of {sorted(known)}")
    if int(trial.actor) not in ACTORS:
        raise ValueError(f"unknown actor code {trial.actor!r} in {stem!r}; RAVDESS actors are 01-24")
    if trial.emotion == "01" and trial.intensity != "01":
        raise ValueError(f"{stem!r}: neutral (emotion 01) has only normal intensity (01) in RAVDESS")
    return trial


def gender_of_actor(actor: int) -> str:
    """RAVDESS's documented convention: odd-numbered actors are male, even-numbered female."""
    return "male" if actor % 2 else "female"


def speaker_of_actor(actor: int) -> str:
    return f"Actor_{actor:02d}"


def _actor_folders(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and ACTOR_FOLDER.fullmatch(p.name))
    except OSError:
        return []


def locate(raw_dir: Path | str) -> Path:
    return find_corpus_dir(
        raw_dir,
        CORPUS,
        FOLDER,
        lambda p: bool(_actor_folders(p)),
        "Actor_XX/03-01-EE-II-SS-RR-AA.wav folders",
        ARCHIVE_FOLDERS,
    )


def download(raw_dir: Path | str, force: bool = False) -> Path:
    """Fetch the audio-only speech zip from Zenodo (record 1188976) and unpack it into `raw_dir/RAVDESS`."""
    if not force:
        try:
            return locate(raw_dir)
        except CorpusLayoutError:
            pass
    corpus_dir = Path(raw_dir) / FOLDER
    archive = fetch(URL, corpus_dir / ARCHIVE, force=force)
    extract_archive(archive, corpus_dir, force=force)
    return locate(raw_dir)


def _collect_trials(corpus_dir: Path, ctx: ParseContext) -> dict[str, dict[str, Path]]:
    """Speech files by trial key and modality; song files and broken names are reported here."""
    trials: dict[str, dict[str, Path]] = {}
    for folder in _actor_folders(corpus_dir):
        for path in sorted(folder.iterdir()):
            suffix = path.suffix.lower()
            if not path.is_file() or is_junk(path) or suffix not in (".wav", ".mp4"):
                continue
            try:
                trial = parse_file_name(path.stem)
            except ValueError as exc:
                ctx.problem(path, str(exc))
                continue
            expected_suffix = MODALITY_SUFFIX[trial.modality]
            if suffix != expected_suffix:
                what = MODALITIES[trial.modality]
                ctx.problem(path, f"modality {trial.modality} ({what}) should be a {expected_suffix} file")
                continue
            if folder.name != speaker_of_actor(int(trial.actor)):
                ctx.problem(path, f"actor code {trial.actor} does not match its folder {folder.name}")
                continue
            if VOCAL_CHANNELS[trial.vocal_channel] == "song":
                ctx.drop(path, "song (vocal channel 02): only speech is used")
                continue
            trials.setdefault(trial.key, {})[trial.modality] = path
    return trials


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    trials = _collect_trials(Path(corpus_dir), ctx)
    for key in sorted(trials):
        files = trials[key]
        audio = files.get("03")
        if audio is None:
            for path in files.values():
                ctx.drop(path, "no audio-only (03) file for this trial; add Audio_Speech_Actors_01-24 to use it")
            continue
        trial = parse_file_name(audio.stem)
        raw = EMOTION_CODES[trial.emotion]
        emotion = ctx.label(audio, raw, LABELS, POLICY_LABELS)
        if emotion is None:
            for modality in ("01", "02"):
                if modality in files:
                    ctx.drop(files[modality], f"video of a trial whose label {raw!r} is dropped")
            continue
        media = files.get("01", files.get("02"))
        if "01" in files and "02" in files:
            ctx.drop(files["02"], "video-only (02) file: the full audio-video (01) file of the trial is the media")
        actor = int(trial.actor)
        yield Utterance(
            dataset=CORPUS,
            native_id=audio.stem,
            source=audio,
            speaker_id=speaker_of_actor(actor),
            raw_label=raw,
            emotion=emotion,
            text=STATEMENTS[trial.statement],
            language=LANGUAGE,
            gender=gender_of_actor(actor),
            media_path=media,
            intensity=INTENSITIES[trial.intensity],
        )
