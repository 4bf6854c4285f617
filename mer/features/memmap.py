"""Pack a pickle group dir into memory-mapped arrays: one `.npy` per modality, labels, meta, info.

Training reads random batches from these by row index without loading the arrays, tens of
times faster than opening one pickle per sample. The pickles are streamed one at a time into
`np.lib.format.open_memmap` files, so memory stays flat whatever the corpus size. The new dir
is built beside the target and renamed into place, so a reader never sees a half-built one.

Per-frame outputs, when the pickles hold them (`audio_frames`, extracted with `--audio_frames`),
go into a ragged pair `<m>_frames.npy` + `<m>_offsets.npy` (`mer.features.frames`), recorded in
`info.json` as `frames: {m: {dim, total, layers}}`.

`info.json`: modalities, dims, dtype, n_rows, [frames], feature_config and feature_config_hash (copied
from `feature_info.json` next to the group dir), source_dir, source_hash (sha256 over every
pickle's relative path and bytes, in row order) and the mer version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mer_builder.errors import InputError
from mer_builder.fsutil import atomic_write_json, named_disk_errors
from mer_builder.labels import NUM_CLASSES
from mer_builder.locking import LOCK_NAME, output_lock

from .. import __version__
from ..modalities import ALL_MODALITIES
from .frames import RaggedWriter, allocated_memmap
from .isolation import vector_problem
from .safe_pickle import safe_loads
from .store import FEATURE_INFO, FEATURE_KEYS, FRAME_KEYS, MEMMAP_INFO, META_FIELDS, META_NAME, PICKLE_INDEX, read_jsonl

FLOAT16_MAX = float(np.finfo(np.float16).max)
_log = logging.getLogger(__name__)


class MemmapBuildError(InputError, ValueError):
    """The pickle dir cannot be packed as it is; the message names the file."""


def _read_index(in_dir: Path) -> list[dict]:
    index = in_dir / PICKLE_INDEX
    if not index.is_file():
        raise FileNotFoundError(
            f"{index}: not found; --in_dir must be one group dir written by extract_at_features*.py (e.g. F/train), "
            "and its extraction must have finished"
        )
    rows = read_jsonl(index)
    if not rows:
        raise MemmapBuildError(f"{index}: no rows")
    return rows


def _load_row(in_dir: Path, row: dict, number: int, digest: Any) -> dict:
    path = in_dir / row["path"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MemmapBuildError(f"{path}: listed in {PICKLE_INDEX} (row {number}) but cannot be read: {exc}") from None
    digest.update(row["path"].encode("utf-8") + b"\0" + len(data).to_bytes(8, "little") + data)
    item = safe_loads(data, str(path))
    if not isinstance(item, dict) or item.get("id") != row.get("id"):
        held = item.get("id") if isinstance(item, dict) else type(item).__name__
        raise MemmapBuildError(f"{path}: holds {held!r}, but {PICKLE_INDEX} row {number} says {row.get('id')!r}")
    label = item.get("true_label")
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < NUM_CLASSES:
        raise MemmapBuildError(f"{path}: true_label {label!r} is not a class index 0..{NUM_CLASSES - 1}")
    return item


def _vector(item: dict, name: str, dim: int, path: Path, dtype: str) -> np.ndarray:
    value = item.get(FEATURE_KEYS[name])
    if value is None:
        raise MemmapBuildError(f"{path}: has no {FEATURE_KEYS[name]}, but the first row of the dir does")
    vector = np.asarray(value, dtype=np.float32).reshape(-1)
    problem = vector_problem(name, vector, dim)
    if problem:
        raise MemmapBuildError(f"{path}: {problem[1]}")
    if dtype == "float16" and np.abs(vector).max(initial=0.0) > FLOAT16_MAX:
        raise MemmapBuildError(f"{path}: {name} features exceed the float16 range; use --dtype float32")
    return vector


def _frames(item: dict, name: str, dim: int, path: Path, dtype: str) -> np.ndarray:
    value = item.get(FRAME_KEYS[name])
    if value is None:
        raise MemmapBuildError(f"{path}: has no {FRAME_KEYS[name]}, but the first row of the dir does")
    frames = np.asarray(value, dtype=np.float32)
    if frames.ndim != 2 or frames.shape[1] != dim:
        raise MemmapBuildError(f"{path}: {name} frames have shape {frames.shape}, expected (T, {dim})")
    if not np.all(np.isfinite(frames)):
        raise MemmapBuildError(f"{path}: {name} frames contain NaN or inf")
    if dtype == "float16" and np.abs(frames).max(initial=0.0) > FLOAT16_MAX:
        raise MemmapBuildError(f"{path}: {name} frames exceed the float16 range; use --dtype float32")
    return frames


def _replace_dir(new: Path, target: Path) -> None:
    """Put `new` at `target`; an existing memmap dir there is swapped out first, then removed."""
    if not target.exists():
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    os.replace(target, old / target.name)
    os.replace(new, target)
    shutil.rmtree(old)


def _note_replaced(out_dir: Path, info: dict) -> None:
    """Replacing a pack of other features (another source, another dtype) is said, not done silently."""
    try:
        before = json.loads((out_dir / MEMMAP_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if (before.get("source_hash"), before.get("dtype")) != (info["source_hash"], info["dtype"]):
        _log.warning(
            "note: %s: replaced the features packed there before (%s rows, %s, from %s)",
            out_dir, before.get("n_rows"), before.get("dtype"), before.get("source_dir"),
        )  # fmt: skip


def build_memmap(in_dir: Path | str, out_dir: Path | str, dtype: str = "float32", quiet: bool = False) -> dict:
    """Stream the pickles of `in_dir` (in index order) into a memmap dir at `out_dir`; returns its info."""
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be float32 or float16, got {dtype!r}")
    # The dir itself is replaced by a rename, so its writer's lock lives beside it.
    with output_lock(out_dir, lock_file=out_dir.parent / f".{out_dir.name}{LOCK_NAME}"):
        return _build(in_dir, out_dir, dtype, quiet)


def _build(in_dir: Path, out_dir: Path, dtype: str, quiet: bool) -> dict:
    if out_dir.exists() and not (out_dir / MEMMAP_INFO).is_file() and any(out_dir.iterdir()):
        raise MemmapBuildError(f"{out_dir}: exists and is not a memmap feature dir; refusing to replace it")
    rows = _read_index(in_dir)
    seen: dict[object, int] = {}
    for number, row in enumerate(rows, 1):
        if seen.setdefault(row.get("id"), number) != number:
            raise MemmapBuildError(f"{in_dir / PICKLE_INDEX}: id {row.get('id')!r} is on rows {seen[row.get('id')]} "
                                   f"and {number}; ids must be unique")  # fmt: skip
    feature_info_path = in_dir.parent / FEATURE_INFO
    feature_info = json.loads(feature_info_path.read_text(encoding="utf-8")) if feature_info_path.is_file() else {}
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build.", dir=out_dir.parent))
    try:
        with named_disk_errors(out_dir, built_in=tmp):  # a full disk names the dir being built, not its temporary twin
            info = _pack(in_dir, tmp, rows, feature_info, dtype, quiet)
        _note_replaced(out_dir, info)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info


def _pack(in_dir: Path, tmp: Path, rows: list[dict], feature_info: dict, dtype: str, quiet: bool) -> dict:
    """Write the arrays, labels, meta and info of `rows` into the new dir `tmp`; returns the info."""
    from tqdm import tqdm

    digest = hashlib.sha256()
    first = _load_row(in_dir, rows[0], 1, hashlib.sha256())
    modalities = [m for m in ALL_MODALITIES if first.get(FEATURE_KEYS[m]) is not None]
    dims = {m: int(np.asarray(first[FEATURE_KEYS[m]]).size) for m in modalities}
    arrays = {m: allocated_memmap(tmp / f"{m}.npy", dtype, (len(rows), dims[m])) for m in modalities}
    framed = [m for m in modalities if first.get(FRAME_KEYS[m]) is not None]
    writers = {m: RaggedWriter(tmp, m, int(np.asarray(first[FRAME_KEYS[m]]).shape[1]), dtype) for m in framed}
    labels = np.empty(len(rows), dtype=np.int64)
    with (tmp / META_NAME).open("w", encoding="utf-8") as meta_out:
        for number, row in enumerate(tqdm(rows, disable=quiet, unit="row", desc=f"memmap {in_dir.name}")):
            item = _load_row(in_dir, row, number + 1, digest)
            path = in_dir / row["path"]
            for m in modalities:
                arrays[m][number] = _vector(item, m, dims[m], path, dtype)
            for m, writer in writers.items():
                writer.append(_frames(item, m, writer.dim, path, dtype))
            labels[number] = int(item["true_label"])
            meta_out.write(json.dumps({k: item[k] for k in META_FIELDS if k in item}, ensure_ascii=False) + "\n")
    for array in arrays.values():
        array.flush()
    del arrays
    np.save(tmp / "labels.npy", labels)
    layers = feature_info.get("frame_layers") or {}
    frames = {m: {"dim": w.dim, "total": w.close(), "layers": int(layers.get(m, 1))} for m, w in writers.items()}
    info = {
        "modalities": modalities,
        "dims": dims,
        "dtype": dtype,
        "n_rows": len(rows),
        **({"frames": frames} if frames else {}),
        "feature_config": feature_info.get("config"),
        "feature_config_hash": feature_info.get("config_hash"),
        "source_dir": str(in_dir.resolve()),
        "source_hash": digest.hexdigest(),
        "mer_version": __version__,
    }
    atomic_write_json(tmp / MEMMAP_INFO, info)
    return info
