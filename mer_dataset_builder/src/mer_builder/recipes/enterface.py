"""eNTERFACE'05: the audio-visual emotion database (Martin, Kotsia, Macq & Pitas, 2006).

Subjects from 14 nations, filmed while reacting in English to six short stories, one per emotion,
with five scripted sentences per emotion: about 1,290 AVI clips (video with the face plus audio).
Layout under `--raw_dir` (the release unpacks to `enterface database/`, found as it lands):

    eNTERFACE05/subject 1/anger/sentence 1/s1_an_1.avi

Quirks of the real release that this recipe absorbs:
* the subject comes from the `subject N` folder, never the file name: subject 11's files are
  named `s12_...` (a note records it), and subject 3's are named `s_3_...`;
* a name can carry a stray suffix (`s16_su_3avi.avi`);
* some emotion folders hold their clips without the `sentence k` level: the sentence number then
  comes from the name;
* the emotion comes from the folder and the name's code must agree with it.

| folder | code | canonical |
|---|---|---|
| anger | an | anger |
| disgust | di | disgust |
| fear | fe | fear |
| happiness | ha | joy |
| sadness | sa | sadness |
| surprise | su | surprise |

The five sentences of each emotion are specific to it (they are the reactions to that emotion's
story), so a transcript would give the label away: the text is left empty. The clip is both the
audio source and `media_path` (face video). Gender is not in the release's names, so it is not
recorded. Language `en` (non-native speakers). Licence: free for research (enterface.net);
`download` says where to get it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..manifest import CORPORA
from .common import ParseContext, Utterance, located_or_manual
from .layout import find_corpus_dir, is_junk, list_files

NAME = "enterface"
CORPUS = CORPORA[NAME]
FOLDER = "eNTERFACE05"
LANGUAGE = "en"
LICENCE = "free for research use (enterface.net)"
DOWNLOAD_PAGE = "http://www.enterface.net/enterface05/emotion.html"
ARCHIVE_FOLDERS: tuple[str, ...] = ("enterface database",)
EMOTION_FOLDERS: dict[str, str] = {
    "anger": "an",
    "disgust": "di",
    "fear": "fe",
    "happiness": "ha",
    "sadness": "sa",
    "surprise": "su",
}
LABELS: dict[str, str | None] = {
    "an": "anger",
    "di": "disgust",
    "fe": "fear",
    "ha": "joy",
    "sa": "sadness",
    "su": "surprise",
}
SUBJECT_FOLDER = re.compile(r"subject (\d+)")
SENTENCE_FOLDER = re.compile(r"sentence (\d)")
FILE_NAME = re.compile(r"s_?(\d+)_([a-z]{2})_(\d)(?:avi)?")


def subject_folders(corpus_dir: Path) -> list[Path]:
    if not corpus_dir.is_dir():
        return []
    folders = [p for p in corpus_dir.iterdir() if p.is_dir() and SUBJECT_FOLDER.fullmatch(p.name)]
    return sorted(folders, key=_subject)


def _subject(folder: Path) -> int:
    """The N of a `subject N` folder (already matched by SUBJECT_FOLDER)."""
    return int(folder.name.split()[-1])


def locate(raw_dir: Path | str) -> Path:
    return find_corpus_dir(
        raw_dir, CORPUS, FOLDER, lambda p: bool(subject_folders(p)), "'subject N/<emotion>/sentence k/*.avi' folders",
        ARCHIVE_FOLDERS,
    )  # fmt: skip


def download(raw_dir: Path | str, force: bool = False) -> Path:
    return located_or_manual(
        raw_dir, locate, CORPUS, FOLDER,
        lambda corpus_dir: (
            f"eNTERFACE'05 is distributed for research from {DOWNLOAD_PAGE}; unzip it so that "
            f"{corpus_dir / 'subject 1' / 'anger' / 'sentence 1'} holds s1_an_1.avi (or put the unzipped "
            f"'enterface database' folder directly under {raw_dir})."
        ),
    )  # fmt: skip


def _clips(subject_dir: Path, ctx: ParseContext) -> Iterator[tuple[str, Path]]:
    """(emotion folder, clip) under `subject N/<emotion>/[sentence k/]`."""
    for folder in sorted(p for p in subject_dir.iterdir() if p.is_dir() and not is_junk(p)):
        if folder.name.lower() not in EMOTION_FOLDERS:
            ctx.problem(folder, f"unknown emotion folder; expected one of {sorted(EMOTION_FOLDERS)}")
            continue
        for path in list_files(folder, "*.avi", recursive=True):
            yield folder.name.lower(), path


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    seen: dict[str, Path] = {}
    for subject_dir in subject_folders(Path(corpus_dir)):
        subject = str(_subject(subject_dir))
        for folder, path in _clips(subject_dir, ctx):
            match = FILE_NAME.fullmatch(path.stem.lower())
            inner = path.parent.name if path.parent.name != folder else None
            sentence_folder = SENTENCE_FOLDER.fullmatch(inner) if inner else None
            if match is None or (inner and sentence_folder is None):
                ctx.problem(path, "expected subject N/<emotion>/sentence k/sN_<code>_k.avi")
                continue
            name_subject, code, sentence = match.groups()
            if code != EMOTION_FOLDERS[folder]:
                ctx.problem(path, f"the name's code {code!r} does not match its folder {folder}/")
                continue
            sentence = sentence_folder[1] if sentence_folder else sentence
            emotion = ctx.label(path, code, LABELS)
            if emotion is None:
                continue
            native = f"s{subject}_{code}_{sentence}"
            if native in seen:
                ctx.drop(path, "duplicate of a clip already read: counted once", duplicate_of=str(seen[native]))
                continue
            seen[native] = path
            notes = (
                [] if name_subject == subject else [f"the file name says subject {name_subject}; its folder, {subject}"]
            )
            yield Utterance(
                dataset=CORPUS, native_id=native, source=path, speaker_id=f"subject{subject}", raw_label=code,
                emotion=emotion, text="", language=LANGUAGE, media_path=path, notes=notes,
            )  # fmt: skip
