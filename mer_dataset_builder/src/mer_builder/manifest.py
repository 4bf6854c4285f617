"""The manifest record: the one contract between the builder and everything downstream.

One JSON object per line, UTF-8, sorted by id, written atomically, so two builds of the
same inputs are byte-identical. Field order in the file follows `REQUIRED_FIELDS` then
`OPTIONAL_FIELDS`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from .fsutil import atomic_write_text
from .labels import EMOTIONS, LABEL_OF, SENTIMENTS

MANIFEST_NAME = "meta_manifest.jsonl"
SPLITS: tuple[str, ...] = ("train", "val", "test")
GROUPS: tuple[str, ...] = ("train", "val", "testA", "testB")
# Corpus display names (used in ids, `dataset` and audio folders) by CLI name.
CORPORA: dict[str, str] = {
    "mead": "MEAD",
    "meld": "MELD",
    "ravdess": "RAVDESS",
    "cremad": "CREMA-D",
    "esd": "ESD",
    "emovdb": "EmoV-DB",
    "iemocap": "IEMOCAP",
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
        if not self.text.strip() and not self.notes:
            out.append("empty transcript without a note explaining why")
        if not self.speaker_id:
            out.append("empty speaker_id")
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
    """Stream records; a malformed line is an error naming the file and line number."""
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


def read_manifest(path: Path) -> list[ManifestRecord]:
    return list(iter_manifest(path))
