"""EmoV-DB: the Emotional Voices Database (Adigwe, Tits, El Haddad, Ostadabbas & Dutoit, 2018).

Four English speakers, bea and jenie (female), josh and sam (male), read CMU ARCTIC prompts in five
styles: amused, anger, disgust, neutral, sleepiness (josh recorded only amused, neutral and
sleepiness). OpenSLR (SLR115) serves one archive per speaker and style. Layout under `--raw_dir`,
either or both of:

    EmoV-DB/bea_Amused.tar.gz                       the OpenSLR archives, unpacked on first use into
    EmoV-DB/bea_Amused/amused_1-15_0001.wav         a folder beside each archive
    EmoV-DB/bea/Amused/amused_1-15_0001.wav         the "sorted" release: <speaker>/<Style>/*.wav
    EmoV-DB/cmuarctic.data                          the ARCTIC prompts: ( arctic_a0001 "text" )

A file name's first token is the style and its last four digits are the ARCTIC *a* prompt number
(`anger_1-28_0011.wav` says `arctic_a0011`, never `arctic_b0011`). The same file found in two
archives or folders is counted once and the copy is reported. Sleepiness follows `--emovdb_sleepy`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..download import DownloadError, extract_archive, fetch
from ..manifest import CORPORA
from ..textio import readable_lines
from .common import ParseContext, Utterance
from .layout import find_corpus_dir, is_junk, list_files

NAME = "emovdb"
CORPUS = CORPORA[NAME]
FOLDER = "EmoV-DB"
LANGUAGE = "en"
LICENCE = "research use; terms in the EmoV-DB repository (numediart/EmoV-DB)"
# The "sorted" release (<speaker>/<Style>/*.wav) unpacks to EmoV-DB_sorted/.
ARCHIVE_FOLDERS: tuple[str, ...] = ("EmoV-DB_sorted",)
BASE_URL = "https://www.openslr.org/resources/115/"
PROMPTS = "cmuarctic.data"
PROMPTS_URL = "http://www.festvox.org/cmu_arctic/cmuarctic.data"
ARCHIVE_SUFFIX = ".tar.gz"

SPEAKERS: dict[str, str] = {"bea": "female", "jenie": "female", "josh": "male", "sam": "male"}
STYLES: tuple[str, ...] = ("Amused", "Angry", "Disgusted", "Neutral", "Sleepy")
# The archives OpenSLR serves: every style for bea, jenie and sam; josh has no Angry or Disgusted.
RECORDED_STYLES: dict[str, tuple[str, ...]] = {
    "bea": STYLES,
    "jenie": STYLES,
    "josh": ("Amused", "Neutral", "Sleepy"),
    "sam": STYLES,
}
# Raw label (the first token of a file name) -> canonical emotion. "sleepiness" follows --emovdb_sleepy.
LABELS: dict[str, str | None] = {"amused": "joy", "anger": "anger", "disgust": "disgust", "neutral": "neutral"}
POLICY_LABELS: dict[str, str] = {"sleepiness": "emovdb_sleepy"}

FILE_NAME = re.compile(r"([A-Za-z]+)_(?:.*_)?(\d{4})")
PROMPT_LINE = re.compile(r'\(\s*arctic_([ab]\d{4})\s+"(.*)"\s*\)')
UNPACKED_FOLDER = re.compile(r"([a-z]+)_([A-Z][a-z]+)")


def archive_names() -> list[str]:
    return [f"{speaker}_{style}{ARCHIVE_SUFFIX}" for speaker, styles in RECORDED_STYLES.items() for style in styles]


def read_prompts(path: Path, ctx: ParseContext) -> dict[str, str]:
    """Prompt id (`a0011`, `b0011`) -> text; a malformed line is a problem naming its line number."""
    prompts = {}
    for number, line in readable_lines(path, lambda bad: ctx.problem(f"{path}:{bad.line}", bad.reason)):
        if not line.strip():
            continue
        match = PROMPT_LINE.fullmatch(line.strip())
        if match is None:
            ctx.problem(f"{path}:{number}", f'expected ( arctic_a0001 "text" ), got {line!r}')
            continue
        prompts[match[1]] = match[2]
    return prompts


def _archives(corpus_dir: Path) -> list[Path]:
    return list_files(corpus_dir, f"*_*{ARCHIVE_SUFFIX}")


def _unpack(archive: Path, force: bool = False) -> Path:
    """Unpack `<speaker>_<Style>.tar.gz` into the folder of the same name beside it (once: a marker records it)."""
    return extract_archive(archive, archive.with_name(archive.name[: -len(ARCHIVE_SUFFIX)]), force=force)


def _speaker_folders(corpus_dir: Path, ctx: ParseContext) -> list[tuple[str, Path]]:
    """(speaker, folder) for unpacked archives (`bea_Amused/`) and the sorted release (`bea/`), sorted by path."""
    found = []
    for folder in sorted(p for p in corpus_dir.iterdir() if p.is_dir() and not is_junk(p)):
        unpacked = UNPACKED_FOLDER.fullmatch(folder.name)
        speaker = unpacked[1] if unpacked else folder.name
        if speaker in SPEAKERS:
            found.append((speaker, folder))
        elif unpacked and list_files(folder, "*.wav", recursive=True):
            ctx.problem(folder, f"unknown speaker {speaker!r}; EmoV-DB speakers are {sorted(SPEAKERS)}")
    return found


def locate(raw_dir: Path | str) -> Path:
    def is_root(path: Path) -> bool:
        names = {p.name for p in path.iterdir()} if path.is_dir() else set()
        return bool(names & (set(SPEAKERS) | set(archive_names())))

    return find_corpus_dir(
        raw_dir,
        CORPUS,
        FOLDER,
        is_root,
        f"OpenSLR archives like bea_Amused{ARCHIVE_SUFFIX} or bea/Amused/*.wav",
        ARCHIVE_FOLDERS,
    )


def _has_style(corpus_dir: Path, speaker: str, style: str) -> bool:
    """Whether a speaker's style is already here, as an archive, its unpacked folder or a sorted folder."""
    name = f"{speaker}_{style}"
    return any(
        p.exists() for p in (corpus_dir / (name + ARCHIVE_SUFFIX), corpus_dir / name, corpus_dir / speaker / style)
    )


def download(raw_dir: Path | str, force: bool = False) -> Path:
    """Fetch the OpenSLR SLR115 archives that are not here yet and the ARCTIC prompts, then unpack them."""
    corpus_dir = Path(raw_dir) / FOLDER
    for speaker, styles in RECORDED_STYLES.items():
        for style in styles:
            if force or not _has_style(corpus_dir, speaker, style):
                name = f"{speaker}_{style}{ARCHIVE_SUFFIX}"
                _unpack(fetch(BASE_URL + name, corpus_dir / name, force=force), force=force)
    if force or not (corpus_dir / PROMPTS).is_file():
        fetch(PROMPTS_URL, corpus_dir / PROMPTS, force=force)
    return locate(raw_dir)


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    corpus_dir = Path(corpus_dir)
    for archive in _archives(corpus_dir):
        try:
            _unpack(archive)
        except DownloadError as exc:
            ctx.problem(archive, str(exc))
    prompts_path = corpus_dir / PROMPTS
    prompts: dict[str, str] | None = None
    if prompts_path.is_file():
        prompts = read_prompts(prompts_path, ctx)
    else:
        ctx.problem(prompts_path, f"missing: the transcripts come from it (download it from {PROMPTS_URL})")
    seen: dict[str, Path] = {}
    for speaker, folder in _speaker_folders(corpus_dir, ctx):
        for path in list_files(folder, "*.wav", recursive=True):
            match = FILE_NAME.fullmatch(path.stem)
            if match is None:
                ctx.problem(path, "file name is not <style>_..._NNNN.wav (style, then the ARCTIC a-prompt number)")
                continue
            native_id = f"{speaker}_{path.stem}"
            if native_id in seen:
                ctx.drop(path, "duplicate of a file already read: counted once", duplicate_of=str(seen[native_id]))
                continue
            seen[native_id] = path
            raw = match[1].lower()
            emotion = ctx.label(path, raw, LABELS, POLICY_LABELS)
            if emotion is None:
                continue
            prompt_id = f"a{match[2]}"
            notes = []
            if prompts is None:
                text = ""
                notes.append(f"no transcript: {PROMPTS} is missing")
            elif prompt_id in prompts:
                text = prompts[prompt_id]
            else:
                ctx.problem(path, f"prompt arctic_{prompt_id} is not in {prompts_path}")
                continue
            yield Utterance(
                dataset=CORPUS,
                native_id=native_id,
                source=path,
                speaker_id=speaker,
                raw_label=raw,
                emotion=emotion,
                text=text,
                language=LANGUAGE,
                gender=SPEAKERS[speaker],
                notes=notes,
            )
