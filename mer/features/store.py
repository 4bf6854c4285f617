"""Reading feature stores: pickle directories and memory-mapped directories behind one interface.

Both give `batch(rows) -> {"audio": (B, Da), "text": (B, Dt), ["video": (B, Dv)], "labels": (B,)}`
as float32/int64 numpy arrays, plus per-row `meta` dicts and `labels`, so the training
side never cares which one it reads. Memmap stores read only the requested rows.

`labels` are of the store's `label_type` (`mer_builder.labels.LABEL_SPACES`): `emotion` (the
default) reads `labels.npy` / each row's `true_label`; any other type (`sentiment`) reads the
class name in the row's metadata field, with -1 for rows that have none (a corpus that does
not rate sentiment). `protocols.open_features` leaves those rows out.

Layouts (see DESIGN.md, Features):
* pickle dir: `index.jsonl` (one line per row: `path` relative to the dir, plus meta) and
  `<id>.pkl` files holding dicts with `audio_features`, `text_features`, `video_features`;
* memmap dir: `audio.npy`, `text.npy`, `video.npy` (those present), `labels.npy`,
  `meta.jsonl` (same row order) and `info.json` (`modalities`, `dims`, `dtype`, `n_rows`), plus
  `<m>_frames.npy` + `<m>_offsets.npy` for modalities whose frames were kept (`mer.features.frames`).

`batch(rows, frames=("audio",))` also returns `audio_frames` (B, T, D), padded only to the
longest row of that batch, and `audio_frames_mask` (B, T); the stores themselves never pad.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, cast

import numpy as np

from mer_builder.errors import InputError
from mer_builder.labels import EMOTIONS, NUM_CLASSES, label_space
from mer_builder.textio import UndecodableLine, text_lines

from ..modalities import ALL_MODALITIES
from .frames import open_ragged, pad_frames
from .safe_pickle import safe_load

PICKLE_INDEX = "index.jsonl"
FEATURE_INFO = "feature_info.json"  # in the parent of the pickle group dirs: {"config", "config_hash", ...}
MEMMAP_INFO = "info.json"
META_NAME = "meta.jsonl"
FEATURE_KEYS: dict[str, str] = {name: f"{name}_features" for name in ALL_MODALITIES}
FRAME_KEYS: dict[str, str] = {name: f"{name}_frames" for name in ALL_MODALITIES}  # per-frame outputs, when kept
# Per-row fields kept beside the features (everything in a pickle that is not a feature array).
META_FIELDS: tuple[str, ...] = (
    "id", "dataset", "split", "group", "speaker_id", "emotion", "true_label", "sentiment",
    "session", "dialogue_id", "utterance_index",
)  # fmt: skip
NO_LABEL = -1  # a row without a label of the store's label type

Rows = np.ndarray | slice | Sequence[int]


class FeatureStore(Protocol):
    modalities: tuple[str, ...]
    dims: dict[str, int]
    label_type: str
    labels: np.ndarray
    meta: list[dict]
    feature_config: dict | None  # how the features were made (extraction config), when recorded

    def __len__(self) -> int: ...

    def batch(self, rows: Rows) -> dict[str, np.ndarray]: ...


class RawInputStore(FeatureStore, Protocol):
    """A store of raw model inputs (fine-tuning): per-row lengths for bucketing, random crops in training."""

    @property
    def lengths(self) -> np.ndarray: ...

    def batch(self, rows: Rows, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]: ...


class FeatureStoreError(InputError, ValueError):
    """A feature store that cannot be trusted as it is; the message names the file and what is wrong."""


def read_jsonl(path: Path) -> list[dict]:
    """One JSON object per line; a line that is not one is an error naming the file and line."""
    rows = []
    for number, text in text_lines(path):
        where = f"{path}:{number}"
        if isinstance(text, UndecodableLine):
            raise FeatureStoreError(f"{where}: {text.reason}")
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FeatureStoreError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise FeatureStoreError(f"{where}: a JSON {type(row).__name__}, expected an object")
        rows.append(row)
    return rows


def check_rows(labels: np.ndarray, meta: Sequence[dict], source: Path) -> None:
    """Every emotion label in the label space and every id once: a tampered store is refused before it is used."""
    outside = np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))
    if outside.size:
        row = int(outside[0])
        raise FeatureStoreError(
            f"{source}: row {row + 1} ({meta[row].get('id')}) has label {labels[row]}, outside 0..{NUM_CLASSES - 1} "
            f"({', '.join(EMOTIONS)}); rebuild the features from a validated manifest"
        )
    first_row: dict[object, int] = {}
    for row, item in enumerate(meta, 1):
        key = item.get("id")
        if key in first_row:
            raise FeatureStoreError(f"{source}: id {key!r} is on rows {first_row[key]} and {row}; ids must be unique")
        first_row[key] = row


def row_labels(emotion_labels: np.ndarray, meta: Sequence[dict], label_type: str, where: Path) -> np.ndarray:
    """Class indices of `label_type` per row (NO_LABEL where a row has none); emotion labels are given."""
    if label_type == "emotion":
        return np.asarray(emotion_labels, dtype=np.int64)
    space = label_space(label_type)
    labels = np.full(len(meta), NO_LABEL, dtype=np.int64)
    for i, row in enumerate(meta):
        name = row.get(space.field)
        if name is not None:
            try:
                labels[i] = space.index(name)
            except ValueError as exc:
                raise FeatureStoreError(f"{where}: row {i + 1} ({row.get('id')}): {exc}") from None
    return labels


def _as_index(rows: Rows, n: int) -> np.ndarray:
    return np.arange(n)[rows] if isinstance(rows, slice) else np.asarray(rows, dtype=np.int64)


class MemmapStore:
    """Rows of `.npy` files opened with `mmap_mode='r'`: a batch touches only its own rows."""

    def __init__(self, root: Path | str, label_type: str = "emotion"):
        self.root, self.label_type = Path(root), label_type
        info_path = self.root / MEMMAP_INFO
        if not info_path.is_file():
            raise FileNotFoundError(f"{info_path}: not a memmap feature dir (build it with build_memmap_features.py)")
        self.info = json.loads(info_path.read_text(encoding="utf-8"))
        self.modalities = tuple(m for m in ALL_MODALITIES if m in self.info["modalities"])
        self._arrays = {m: np.load(self.root / f"{m}.npy", mmap_mode="r") for m in self.modalities}
        self.dims = {m: int(a.shape[1]) for m, a in self._arrays.items()}
        self.feature_config = self.info.get("feature_config")
        self.meta = read_jsonl(self.root / META_NAME)
        emotions = np.load(self.root / "labels.npy").astype(np.int64)
        n = len(emotions)
        bad = {m: a.shape[0] for m, a in self._arrays.items() if a.shape[0] != n}
        if bad or len(self.meta) != n:
            raise FeatureStoreError(
                f"{self.root}: row counts disagree: labels {n}, meta {len(self.meta)}, arrays {bad}"
            )
        check_rows(emotions, self.meta, self.root / "labels.npy")
        self.labels = row_labels(emotions, self.meta, label_type, self.root / META_NAME)
        frames = self.info.get("frames") or {}
        self._frames = {m: open_ragged(self.root, m, n) for m in self.modalities if m in frames}
        self.frame_dims = {m: int(f.shape[1]) for m, (f, _) in self._frames.items()}
        self.frame_layers = {m: int(frames[m].get("layers", 1)) for m in self._frames}

    def __len__(self) -> int:
        return len(self.labels)

    def frame_lengths(self, modality: str) -> np.ndarray:
        """Stored frames per row of `modality`."""
        return np.diff(self._frames[modality][1])

    def batch(self, rows: Rows, frames: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """The rows' vectors and labels; for each modality in `frames`, also `<m>_frames` (B, T, D) padded to
        this batch's longest row and `<m>_frames_mask` (B, T)."""
        index = _as_index(rows, len(self))
        out = {m: np.asarray(a[index], dtype=np.float32) for m, a in self._arrays.items()}
        for m in frames:
            if m not in self._frames:
                raise FeatureStoreError(
                    f"{self.root}: holds no {m} frames (extract with --{m}_frames, then build_memmap_features.py)"
                )
            values, offsets = self._frames[m]
            out[f"{m}_frames"], out[f"{m}_frames_mask"] = pad_frames(
                [values[offsets[i] : offsets[i + 1]] for i in index], self.frame_dims[m]
            )
        out["labels"] = self.labels[index]
        return out


class PickleStore:
    """One pickle per utterance, loaded on demand through the restricted unpickler."""

    def __init__(self, root: Path | str, label_type: str = "emotion"):
        self.root, self.label_type = Path(root), label_type
        index_path = self.root / PICKLE_INDEX
        if not index_path.is_file():
            raise FileNotFoundError(f"{index_path}: not a pickle feature dir (write it with extract_at_features.py)")
        self._index = read_jsonl(index_path)
        self.meta = [{k: row[k] for k in META_FIELDS if k in row} for row in self._index]
        values = [row.get("true_label") for row in self._index]
        wrong = next((i for i, v in enumerate(values) if isinstance(v, bool) or not isinstance(v, int)), None)
        if wrong is not None:
            raise FeatureStoreError(f"{index_path}:{wrong + 1}: true_label {values[wrong]!r} is not a class index")
        emotions = np.asarray(values, dtype=np.int64)
        check_rows(emotions, self.meta, index_path)
        self.labels = row_labels(emotions, self.meta, label_type, index_path)
        first = self._load(0) if self._index else {}
        self.modalities = tuple(m for m in ALL_MODALITIES if first.get(FEATURE_KEYS[m]) is not None)
        self.dims = {m: int(np.asarray(first[FEATURE_KEYS[m]]).shape[-1]) for m in self.modalities}
        self.frame_dims = {
            m: int(np.asarray(first[FRAME_KEYS[m]]).shape[-1]) for m in self.modalities if FRAME_KEYS[m] in first
        }
        info_path = self.root.parent / FEATURE_INFO
        feature_info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
        self.feature_config = feature_info.get("config")
        self.frame_layers = {m: int((feature_info.get("frame_layers") or {}).get(m, 1)) for m in self.frame_dims}

    def __len__(self) -> int:
        return len(self._index)

    def _load(self, row: int) -> dict:
        return safe_load(self.root / self._index[row]["path"])

    def batch(self, rows: Rows, frames: Sequence[str] = ()) -> dict[str, np.ndarray]:
        index = _as_index(rows, len(self))
        items = [self._load(int(i)) for i in index]
        out = {}
        for m in frames:
            if m not in self.frame_dims:
                raise FeatureStoreError(f"{self.root}: holds no {m} frames (extract with --{m}_frames)")
            out[f"{m}_frames"], out[f"{m}_frames_mask"] = pad_frames(
                [np.asarray(item[FRAME_KEYS[m]], dtype=np.float32) for item in items], self.frame_dims[m]
            )
        for m in self.modalities:
            values = [np.asarray(item[FEATURE_KEYS[m]], dtype=np.float32).reshape(-1) for item in items]
            wrong = [
                self._index[int(i)]["path"] for i, v in zip(index, values, strict=True) if v.shape[0] != self.dims[m]
            ]
            if wrong:
                raise FeatureStoreError(
                    f"{self.root}/{wrong[0]}: {m} features have the wrong size (expected {self.dims[m]})"
                )
            out[m] = np.stack(values) if values else np.zeros((0, self.dims[m]), np.float32)
        out["labels"] = self.labels[index]
        return out


class SubsetStore:
    """A row selection (e.g. one corpus, one session) of another store, without copying features."""

    def __init__(self, base: FeatureStore, rows: Iterable[int]):
        self.base, self.rows = base, np.asarray(list(rows), dtype=np.int64)
        self.modalities, self.dims, self.feature_config = base.modalities, base.dims, base.feature_config
        self.label_type = base.label_type
        self.kind = getattr(base, "kind", "features")
        self.frame_dims = getattr(base, "frame_dims", {})
        self.frame_layers = getattr(base, "frame_layers", {})
        self.labels = base.labels[self.rows]
        self.meta = [base.meta[i] for i in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def lengths(self) -> np.ndarray:
        """Per-row lengths, where the base store has them (fine-tuning inputs)."""
        return cast(RawInputStore, self.base).lengths[self.rows]

    def batch(self, rows: Rows, **options: object) -> dict[str, np.ndarray]:
        return self.base.batch(self.rows[_as_index(rows, len(self))], **options)


class ConcatStore:
    """Several stores read as one (e.g. the train groups of all corpora but one)."""

    def __init__(self, stores: Sequence[FeatureStore]):
        if not stores:
            raise ValueError("ConcatStore needs at least one store")
        self.stores = list(stores)
        self.modalities = self.stores[0].modalities
        self.dims = self.stores[0].dims
        self.feature_config = self.stores[0].feature_config
        self.label_type = self.stores[0].label_type
        for store in self.stores[1:]:
            if store.modalities != self.modalities or store.dims != self.dims:
                raise ValueError(f"cannot concatenate stores with dims {self.dims} and {store.dims}")
            if getattr(store, "frame_dims", {}) != getattr(self.stores[0], "frame_dims", {}):
                raise ValueError("cannot concatenate stores that keep different frames (extract every group alike)")
            if store.feature_config != self.feature_config:
                raise ValueError("cannot concatenate stores extracted with different feature configs")
            if store.label_type != self.label_type:
                raise ValueError(f"cannot concatenate stores of {self.label_type} and {store.label_type} labels")
        self.frame_dims = getattr(self.stores[0], "frame_dims", {})
        self.frame_layers = getattr(self.stores[0], "frame_layers", {})
        self._offsets = np.cumsum([0] + [len(s) for s in self.stores])
        self.labels = np.concatenate([s.labels for s in self.stores])
        self.meta = [m for s in self.stores for m in s.meta]

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def batch(self, rows: Rows, frames: Sequence[str] = ()) -> dict[str, np.ndarray]:
        index = _as_index(rows, len(self))
        which = np.searchsorted(self._offsets, index, side="right") - 1
        parts, order = [], []
        options = {"frames": frames} if frames else {}
        for k in np.unique(which):
            mask = which == k
            parts.append(self.stores[k].batch(index[mask] - self._offsets[k], **options))
            order.append(np.flatnonzero(mask))
        inverse = np.argsort(np.concatenate(order)) if order else np.zeros(0, np.int64)
        keys = [*self.modalities, "labels"]
        if not parts:
            empty = {k: np.zeros((0, self.dims[k]), np.float32) for k in self.modalities}
            for m in frames:
                empty[f"{m}_frames"], empty[f"{m}_frames_mask"] = pad_frames([], self.frame_dims[m])
            return empty | {"labels": np.zeros(0, np.int64)}
        out = {k: np.concatenate([p[k] for p in parts])[inverse] for k in keys}
        for m in frames:  # each part is padded to its own longest row: pad them to the longest of all
            width = max(p[f"{m}_frames"].shape[1] for p in parts)
            out[f"{m}_frames"] = np.concatenate(
                [np.pad(p[f"{m}_frames"], ((0, 0), (0, width - p[f"{m}_frames"].shape[1]), (0, 0))) for p in parts]
            )[inverse]
            out[f"{m}_frames_mask"] = np.concatenate(
                [np.pad(p[f"{m}_frames_mask"], ((0, 0), (0, width - p[f"{m}_frames_mask"].shape[1]))) for p in parts]
            )[inverse]
        return out


def labelled_only(store: FeatureStore) -> tuple[FeatureStore, int]:
    """The rows of `store` that have a label of its label type (the store itself when all do), and how
    many were left out."""
    keep = np.flatnonzero(store.labels != NO_LABEL)
    left_out = len(store) - len(keep)
    return (SubsetStore(store, keep) if left_out else store), left_out


def open_feature_store(path: Path | str, label_type: str = "emotion") -> FeatureStore:
    """Open a memmap dir (has info.json) or a pickle dir (has index.jsonl), its labels of `label_type`."""
    path = Path(path)
    if (path / MEMMAP_INFO).is_file():
        return MemmapStore(path, label_type)
    if (path / PICKLE_INDEX).is_file():
        return PickleStore(path, label_type)
    raise FileNotFoundError(
        f"{path}: expected a feature dir with {MEMMAP_INFO} (memmap) or {PICKLE_INDEX} (pickles); "
        "run extract_at_features.py, then build_memmap_features.py"
    )
