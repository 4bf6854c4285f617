"""What to predict on: media files found from the command line's INPUTs, and transcripts from a CSV.

Folders are searched recursively for files whose suffix is one `mer_builder.audio` decodes
(wav, flac, mp3, m4a, mp4, flv, ...); hidden files and folders (a leading dot, e.g. macOS
`._clip.wav` resource forks) are skipped. An INPUT that cannot be used (missing, not a media
file, a folder with no media) becomes a `Failure` with the reason, so the other inputs still run.

Transcripts CSV (UTF-8, a header row, one row per media file):

    path,text,speaker,dialogue_id,utterance_index
    clips/a.wav,"I can't believe you did that!",Rachel,d1,0
    clips/b.mp4,"Oh, come on.",Ross,d1,1

`path` and `text` are required; `speaker`, `dialogue_id` and `utterance_index` are optional
columns (any other column is an error, so a misspelt one is not silently ignored). A relative
`path` is looked up beside the CSV first, then from the current directory. `speaker` is used
when the model's features prefix each turn with its speaker; `dialogue_id` + `utterance_index`
give the earlier turns of the same dialogue as context when the features use dialogue context.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mer_builder.audio import MEDIA_SUFFIXES
from mer_builder.errors import InputError
from mer_builder.textio import UnreadableRecord, csv_rows

from ..features.text import Turn, dialogue_contexts

TRANSCRIPT_COLUMNS = ("path", "text", "speaker", "dialogue_id", "utterance_index")
REQUIRED_COLUMNS = ("path", "text")


class TranscriptError(InputError, ValueError):
    """A transcripts CSV that cannot be used; the message names the file, the line and what was expected."""


@dataclass(frozen=True)
class Failure:
    path: str
    reason: str


def _suffixes() -> str:
    return ", ".join(sorted(s.lstrip(".") for s in MEDIA_SUFFIXES))


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def find_media(inputs: Iterable[Path | str]) -> tuple[list[Path], list[Failure]]:
    """Media files from files and folders (searched recursively), in the order given, each once."""
    found: list[Path] = []
    seen: set[Path] = set()
    failures: list[Failure] = []

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append(path)

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            media = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES and not _hidden(p, path)
            )
            if not media:
                failures.append(Failure(str(path), f"folder holds no media files ({_suffixes()})"))
            for p in media:
                add(p)
        elif not path.exists():
            failures.append(Failure(str(path), "file not found"))
        elif path.suffix.lower() not in MEDIA_SUFFIXES:
            failures.append(
                Failure(str(path), f"not a media file: expected one of {_suffixes()}, got '{path.suffix or path.name}'")
            )
        else:
            add(path)
    return found, failures


@dataclass(frozen=True)
class Transcript:
    text: str
    speaker: str | None = None
    dialogue_id: str | None = None
    utterance_index: int | None = None


@dataclass(frozen=True)
class _Turn:
    """A CSV row in the shape `dialogue_contexts` reads (one dataset, one split: the CSV is one conversation set)."""

    id: str
    speaker_id: str | None
    text: str
    dialogue_id: str | None
    utterance_index: int | None
    dataset: str = ""
    split: str = ""


class Transcripts:
    """The rows of a transcripts CSV keyed by resolved media path, with the dialogue context of each."""

    def __init__(self, rows: dict[Path, Transcript], files: list[Path], source: str = "transcripts"):
        self.rows, self.files, self.source = rows, files, source

    @classmethod
    def read(cls, csv_path: Path | str) -> Transcripts:
        csv_path = Path(csv_path)
        if not csv_path.is_file():
            raise TranscriptError(f"{csv_path}: transcripts file not found")
        records = csv_rows(csv_path)  # a spreadsheet's byte-order mark is dropped; bad bytes are named where they are
        first = next(records, None)
        if isinstance(first, UnreadableRecord):
            raise TranscriptError(f"{csv_path}:{first.line}: {first.describe('save the CSV as UTF-8')}")
        header = [name.strip() for name in first.cells] if first else []
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        unknown = [c for c in header if c not in TRANSCRIPT_COLUMNS]
        if missing or unknown:
            problem = f"lacks the columns {missing}" if missing else f"has unknown columns {unknown}"
            raise TranscriptError(
                f"{csv_path}: the header {problem}; expected {list(REQUIRED_COLUMNS)} and optionally "
                f"{[c for c in TRANSCRIPT_COLUMNS if c not in REQUIRED_COLUMNS]}"
            )
        rows: dict[Path, Transcript] = {}
        files: list[Path] = []
        for record in records:
            if isinstance(record, UnreadableRecord):
                raise TranscriptError(f"{csv_path}:{record.line}: {record.describe('save the CSV as UTF-8')}")
            line = record.line
            if len(record.cells) > len(header):
                raise TranscriptError(f"{csv_path}:{line}: more fields than the header has columns")
            row = dict(zip(header, record.cells, strict=False))
            if not (row.get("path") or "").strip():
                raise TranscriptError(f"{csv_path}:{line}: the path is empty")
            file = _locate(row["path"], csv_path.parent)
            key = file.resolve()
            if key in rows:
                raise TranscriptError(f"{csv_path}:{line}: {row['path']} has a transcript on an earlier line")
            rows[key] = Transcript(
                text=(row.get("text") or "").strip(),
                speaker=(row.get("speaker") or "").strip() or None,
                dialogue_id=(row.get("dialogue_id") or "").strip() or None,
                utterance_index=_index(row.get("utterance_index"), f"{csv_path}:{line}"),
            )
            files.append(file)
        if not rows:
            raise TranscriptError(f"{csv_path}: no transcript rows under the header")
        return cls(rows, files, str(csv_path))

    def get(self, path: Path) -> Transcript | None:
        return self.rows.get(Path(path).resolve())

    def contexts(self, window: int) -> dict[Path, tuple[Turn, ...]]:
        """The `window` earlier turns of each row's dialogue (by utterance_index), oldest first."""
        turns = [_Turn(str(p), t.speaker, t.text, t.dialogue_id, t.utterance_index) for p, t in self.rows.items()]
        try:
            by_id = dialogue_contexts(turns, window)
        except ValueError as exc:
            raise TranscriptError(f"{self.source}: {exc}") from None
        return {Path(key): turns for key, turns in by_id.items()}


def _locate(value: str, base: Path) -> Path:
    """A CSV path: absolute, else beside the CSV if it exists there, else from the current directory."""
    path = Path(value.strip()).expanduser()
    if path.is_absolute() or not (base / path).exists():
        return path
    return base / path


def _index(value: str | None, where: str) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise TranscriptError(f"{where}: utterance_index must be a whole number, got {value!r}") from None
