"""The manifest record: the one contract between the builder and everything downstream.

One JSON object per line, UTF-8, sorted by id, written atomically, so two builds of the
same inputs are byte-identical. Field order in the file follows `REQUIRED_FIELDS` then
`OPTIONAL_FIELDS`.
"""

from __future__ import annotations

import functools
import json
import math
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path, PurePosixPath, PureWindowsPath

from .errors import InputError
from .fsutil import atomic_write_text
from .labels import EMOTIONS, LABEL_OF, NUM_CLASSES, SENTIMENTS
from .textio import UndecodableLine, text_lines

MANIFEST_NAME = "meta_manifest.jsonl"
SPLITS: tuple[str, ...] = ("train", "val", "test")
GROUPS: tuple[str, ...] = ("train", "val", "testA", "testB")
SPLIT_BY: tuple[str, ...] = ("official", "speaker", "spec", "utterance")
# Splits made this way may share speakers across train/val/test; validate checks the others are speaker-disjoint.
SPEAKER_SHARING_SPLITS: frozenset[str] = frozenset({"official", "utterance"})
# Corpus display names (used in ids, `dataset` and audio folders) by CLI name.
CORPORA: dict[str, str] = {
    "mead": "MEAD",
    "meld": "MELD",
    "ravdess": "RAVDESS",
    "cremad": "CREMA-D",
    "esd": "ESD",
    "emovdb": "EmoV-DB",
    "iemocap": "IEMOCAP",
    "emodb": "EmoDB",
    "tess": "TESS",
    "savee": "SAVEE",
    "cafe": "CaFE",
    "emovo": "EMOVO",
    "urdu": "URDU",
    "enterface": "eNTERFACE05",
    "mosei": "CMU-MOSEI",
}
CORPUS_ALIASES: dict[str, str] = {"cremadh": "cremad"}
# testB is MELD's official test set (spontaneous TV dialogue); testA is the acted corpora's.
TEST_B_DATASETS: frozenset[str] = frozenset({"MELD"})


def group_of(dataset: str, split: str) -> str:
    """The evaluation group of a record: train and val keep their name, test splits by corpus type."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split != "test":
        return split
    return "testB" if dataset in TEST_B_DATASETS else "testA"


@dataclass
class ManifestRecord:
    id: str
    dataset: str
    split: str
    group: str
    speaker_id: str
    emotion: str
    label: int
    raw_label: str
    text: str
    audio_path: str
    duration_s: float
    sample_rate: int
    language: str
    sentiment: str | None = None  # negative | neutral | positive, where the corpus rates it (labels.SENTIMENTS)
    gender: str | None = None
    media_path: str | None = None
    dialogue_id: str | None = None
    utterance_index: int | None = None
    intensity: str | None = None
    session: str | None = None
    # How the split was made: official (the corpus's own), speaker (seeded speaker hash), spec (--split_spec
    # lists or folds), utterance (a one-speaker corpus: not speaker-disjoint). `fold`: the spec's fold.
    split_by: str | None = None
    fold: str | None = None
    # CMU-MOSEI: the six emotion intensities (0-3, canonical names) and the sentiment score (-3..3)
    emotion_scores: dict[str, float] | None = None
    sentiment_score: float | None = None
    transcript_source: str | None = None  # "whisper": a machine transcript (--transcribe_missing); absent: the corpus's
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if v is not None and v != []}
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict, where: str = "<record>") -> ManifestRecord:
        missing = [name for name in REQUIRED_FIELDS if name not in data]
        unknown = sorted(set(data) - set(ALL_FIELDS))
        if missing or unknown:
            raise ValueError(f"{where}: missing fields {missing}, unknown fields {unknown}")
        return cls(**data)

    def problems(self) -> list[str]:
        """Schema violations of this single record (cross-record checks live in validate)."""
        out = []
        if self.emotion not in LABEL_OF:
            out.append(f"emotion {self.emotion!r} is outside the label space {EMOTIONS}")
        elif self.label != LABEL_OF[self.emotion]:
            out.append(f"label {self.label} does not match emotion {self.emotion!r}")
        if self.sentiment is not None and self.sentiment not in SENTIMENTS:
            out.append(f"sentiment {self.sentiment!r} is outside the sentiment label space {SENTIMENTS}")
        if self.split not in SPLITS:
            out.append(f"split {self.split!r} is not one of {SPLITS}")
        elif self.group != group_of(self.dataset, self.split):
            out.append(f"group {self.group!r} should be {group_of(self.dataset, self.split)!r}")
        if not self.id.startswith(f"{self.dataset}/"):
            out.append(f"id {self.id!r} does not start with '{self.dataset}/'")
        if not self.speaker_id:
            out.append("empty speaker_id")
        if self.split_by is not None and self.split_by not in SPLIT_BY:
            out.append(f"split_by {self.split_by!r} is not one of {SPLIT_BY}")
        return out


REQUIRED_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(ManifestRecord) if f.default is MISSING and f.default_factory is MISSING
)
ALL_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ManifestRecord))
OPTIONAL_FIELDS: tuple[str, ...] = tuple(name for name in ALL_FIELDS if name not in REQUIRED_FIELDS)


def write_manifest(records: Iterable[ManifestRecord], path: Path) -> int:
    """Write records sorted by id, atomically; returns how many were written."""
    ordered = sorted(records, key=lambda r: r.id)
    atomic_write_text(path, "".join(r.to_json() + "\n" for r in ordered))
    return len(ordered)


def iter_manifest(path: Path) -> Iterator[ManifestRecord]:
    """Stream the records of a manifest the builder has just written itself (publish merges its per-corpus
    files with it); a malformed line is an error naming the file and line number. Everything that reads a
    manifest given to it reads it with `read_manifest`, which checks each record."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found; build it with `python -m mer_builder all`")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not valid JSON ({exc.msg})") from None
            yield ManifestRecord.from_dict(data, where)


# ---------------------------------------------------------------- the checked reader every consumer uses


class ManifestError(InputError, ValueError):
    """A manifest that cannot be trusted; the message names the file, the line and the field."""


@dataclass(frozen=True)
class ManifestIssue:
    """One thing wrong with one line of a manifest; `record` is set when the line is a well-typed record."""

    path: Path
    line: int
    message: str  # names the field it is about
    record: ManifestRecord | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def _conforms(value: object, annotation: object) -> bool:
    """Whether a JSON value has the field's declared type (a bool is not a number here, though Python says so)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in args)
    if annotation is type(None):
        return value is None
    if isinstance(value, bool):
        return annotation is bool
    if annotation is float:
        return isinstance(value, int | float)
    if annotation in (str, int):
        return isinstance(value, annotation)
    if origin is list:
        return isinstance(value, list) and all(_conforms(item, args[0]) for item in value)
    if origin is dict:
        items = value.items() if isinstance(value, dict) else None
        return items is not None and all(_conforms(k, args[0]) and _conforms(v, args[1]) for k, v in items)
    return True  # a type this check does not know: the dataclass takes it as it is


_KIND_NAMES = {str: "a string", int: "a whole number", float: "a number", list[str]: "a list of strings"}


@functools.cache
def _record_hints() -> dict[str, typing.Any]:
    """ManifestRecord's field types, resolved once (resolving them per line cost more than the rest of the check)."""
    return typing.get_type_hints(ManifestRecord)


def _type_problems(data: dict) -> list[str]:
    """Fields whose JSON value is not of the declared type (null only where the field is optional)."""
    hints = _record_hints()
    out = []
    for name, value in data.items():
        hint = hints[name]
        if not _conforms(value, hint):
            union = typing.get_origin(hint) in (typing.Union, types.UnionType)
            wanted = next(a for a in typing.get_args(hint) if a is not type(None)) if union else hint
            kind = _KIND_NAMES.get(wanted, str(wanted))
            out.append(f"{name} is {json.dumps(value, ensure_ascii=False)[:40]}, expected {kind}")
    return out


def path_problem(value: str) -> str | None:
    """Why `value` is not a plain relative path that stays inside its folder, or None.

    No root, no drive, no backslash, no '..', '.' or empty parts: `audio_path` may only name a file
    of the processed folder, and an id becomes a file path under each feature folder.
    """
    windows = PureWindowsPath(value)
    if not value:
        return "empty"
    if PurePosixPath(value).is_absolute() or windows.drive or windows.root:
        return "an absolute path"
    if "\\" in value or any(part in ("..", ".", "") for part in value.split("/")):
        return "a path with '..', '.', empty parts or backslashes"
    return None


def _value_problems(record: ManifestRecord) -> list[str]:
    out = [] if 0 <= record.label < NUM_CLASSES else [f"label {record.label} is outside 0..{NUM_CLASSES - 1}"]
    out += record.problems()
    if not math.isfinite(record.duration_s) or record.duration_s <= 0:
        out.append(f"duration_s {record.duration_s!r} is not a positive number")
    problem = path_problem(record.id)
    if problem:
        out.append(f"id {record.id!r} is {problem}; expected <CORPUS>/<name>")
    problem = path_problem(record.audio_path)
    if problem:
        out.append(f"audio_path {record.audio_path!r} is {problem}: it is not inside the output folder")
    return out


def scan_manifest(path: Path | str) -> Iterator[tuple[int, ManifestRecord | None, list[ManifestIssue]]]:
    """(line, record or None, its issues) for every non-blank line, streamed: the one place manifest
    lines are judged. A line that is not UTF-8, not JSON, not an object, lacks or adds fields, or has a
    field of the wrong type gives no record; a record with a wrong value, or an id already seen, comes
    with its issues."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found; build it with `python -m mer_builder prepare`")
    seen: dict[str, int] = {}
    for number, text in text_lines(path):
        if isinstance(text, UndecodableLine):
            yield number, None, [ManifestIssue(path, number, text.reason)]
            continue
        if not text.strip():
            continue
        data, problems = _line_record(text)
        if data is None:
            yield number, None, [ManifestIssue(path, number, p) for p in problems]
            continue
        record = ManifestRecord(**data)
        problems = _value_problems(record)
        if record.id in seen:
            problems.append(f"duplicate id {record.id!r} (also on line {seen[record.id]})")
        else:
            seen[record.id] = number
        yield number, record, [ManifestIssue(path, number, p, record) for p in problems]


def _line_record(text: str) -> tuple[dict | None, list[str]]:
    """The line's fields if it is a well-typed record, else None and why not."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"not a manifest record ({exc.msg} at column {exc.colno}: not valid JSON)"]
    if not isinstance(data, dict):
        return None, [f"not a manifest record (a JSON {type(data).__name__}, expected an object)"]
    missing = [name for name in REQUIRED_FIELDS if name not in data]
    unknown = sorted(set(data) - set(ALL_FIELDS))
    if missing or unknown:
        return None, [f"not a manifest record (missing fields {missing}, unknown fields {unknown})"]
    problems = _type_problems(data)
    return (None if problems else data), problems


def check_manifest(path: Path | str) -> tuple[list[ManifestRecord], list[ManifestIssue]]:
    """Every record of the manifest and every issue found in it."""
    records, issues = [], []
    for _, record, found in scan_manifest(path):
        issues += found
        if record is not None and not found:
            records.append(record)
    return records, issues


def read_manifest(path: Path | str) -> list[ManifestRecord]:
    """The records of a manifest, or `ManifestError` naming the file, line and field of its first problem.

    Every consumer reads the manifest through this, so a tampered or broken one is refused before
    any work (labels outside the space or contradicting the emotion, duplicate ids, paths outside
    the processed folder, wrong types, bytes that are not UTF-8).
    """
    records, issues = check_manifest(path)
    if issues:
        more = f" (and {len(issues) - 1} more: python -m mer_builder validate lists all)" if len(issues) > 1 else ""
        raise ManifestError(f"{issues[0]}{more}; the manifest is refused, rebuild it or fix that line")
    return records
