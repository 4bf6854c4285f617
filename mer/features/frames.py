"""Per-frame encoder outputs: shrinking them at extraction, storing them ragged, padding them per batch.

A clip's frames are a (T_i, D) array whose T_i differs from clip to clip. The memmap pack keeps
all clips' frames of one modality as one flat array and where each clip starts:

    <m>_frames.npy   (sum T_i, D)  float32 or float16, opened with mmap_mode="r"
    <m>_offsets.npy  (N + 1,)      int64; clip i is frames[offsets[i]:offsets[i + 1]]

so the store never pads: a batch reads its clips' slices and pads them to the longest clip of
that batch only (`pad_frames`, with a mask that the poolings use). With several hidden layers
kept (`--audio_layers all`), each frame holds the layers one after another (L * D values).

Frames are shrunk before they are stored (`shrink_frames`): `frame_pool` consecutive frames are
averaged (Whisper's 50 frames/s become 25 with 2), and a clip with more than `max_frames` is
averaged down to `max_frames` segments of equal length, which bounds memory for long clips.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mer_builder.errors import InputError


def frames_name(modality: str) -> str:
    return f"{modality}_frames"


def offsets_name(modality: str) -> str:
    return f"{modality}_offsets"


def shrink_frames(frames: np.ndarray, pool: int = 1, max_frames: int = 0) -> np.ndarray:
    """Average every `pool` consecutive frames (a shorter last group over its own frames), then, above
    `max_frames` (0 = no cap), average consecutive runs down to `max_frames` frames. Float32 (T', D)."""
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 2:
        raise ValueError(f"frames must be (T, D), got shape {frames.shape}")
    if pool > 1 and len(frames) > 1:
        frames = _segment_means(frames, np.arange(0, len(frames), pool))
    if max_frames and len(frames) > max_frames:
        frames = _segment_means(frames, np.linspace(0, len(frames), max_frames, endpoint=False).astype(np.int64))
    return frames


def _segment_means(frames: np.ndarray, starts: np.ndarray) -> np.ndarray:
    counts = np.diff(np.append(starts, len(frames)))
    return (np.add.reduceat(frames.astype(np.float64), starts, axis=0) / counts[:, None]).astype(np.float32)


def pad_frames(frames: Sequence[np.ndarray], dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A batch of (T_i, D) arrays as (B, max T_i, D) float32 zeros-padded and a (B, max T_i) mask, True at real
    frames; padded only to this batch's longest clip (at least one position, so an empty batch has a shape)."""
    width = max((len(f) for f in frames), default=0)
    dim = frames[0].shape[1] if frames else (dim or 0)
    out = np.zeros((len(frames), max(width, 1), dim), np.float32)
    mask = np.zeros((len(frames), max(width, 1)), np.bool_)
    for i, f in enumerate(frames):
        out[i, : len(f)], mask[i, : len(f)] = f, True
    return out, mask


class RaggedFramesError(InputError, ValueError):
    """A ragged frame array whose offsets do not describe it; the message names the files."""


def open_ragged(root: Path, modality: str, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The frames (memory-mapped, read-only) and offsets of `modality` in a memmap dir, checked against each
    other and the row count."""
    frames_path, offsets_path = root / f"{frames_name(modality)}.npy", root / f"{offsets_name(modality)}.npy"
    frames = np.load(frames_path, mmap_mode="r")
    offsets = np.load(offsets_path).astype(np.int64)
    problem = None
    if frames.ndim != 2:
        problem = f"frames have shape {frames.shape}, expected (total frames, dim)"
    elif offsets.shape != (n_rows + 1,):
        problem = f"{len(offsets)} offsets for {n_rows} rows (expected {n_rows + 1})"
    elif offsets[0] != 0 or offsets[-1] != frames.shape[0] or np.any(np.diff(offsets) < 0):
        problem = f"offsets must rise from 0 to the {frames.shape[0]} frames"
    if problem:
        raise RaggedFramesError(f"{offsets_path}: {problem}; rebuild with build_memmap_features.py")
    return frames, offsets


def allocated_memmap(path: Path, dtype: npt.DTypeLike, shape: tuple[int, int]) -> np.memmap:
    """A new .npy memmap whose blocks are reserved on disk now: writing into a sparse memmap on a full disk
    kills the process with SIGBUS (no message, no cleanup); reserving them first raises ENOSPC instead."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    if hasattr(os, "posix_fallocate"):
        with path.open("r+b") as handle:
            try:
                os.posix_fallocate(handle.fileno(), 0, path.stat().st_size)
            except OSError as exc:  # a filesystem that cannot reserve blocks: write into it sparse, as before
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
    return array


class RaggedWriter:
    """Appends each row's (T_i, D) frames to a raw file, then writes `<m>_frames.npy` and `<m>_offsets.npy`.

    The total frame count is known only at the end, so the frames are streamed to a headerless
    file first and copied into the `.npy` in chunks: memory stays flat whatever the corpus size.
    """

    COPY_ROWS = 1 << 16

    def __init__(self, root: Path, modality: str, dim: int, dtype: str):
        self.root, self.modality, self.dim, self.dtype = root, modality, dim, np.dtype(dtype)
        self._raw_path = root / f".{frames_name(modality)}.raw"
        self._raw = self._raw_path.open("wb")
        self.offsets = [0]

    def append(self, frames: np.ndarray) -> None:
        frames = np.asarray(frames, dtype=self.dtype)
        if frames.ndim != 2 or frames.shape[1] != self.dim:
            raise ValueError(f"frames of shape {frames.shape}, expected (T, {self.dim})")
        self._raw.write(np.ascontiguousarray(frames).tobytes())
        self.offsets.append(self.offsets[-1] + len(frames))

    def close(self) -> int:
        """Write the two .npy files; returns the total frame count."""
        self._raw.close()
        total = self.offsets[-1]
        out = allocated_memmap(self.root / f"{frames_name(self.modality)}.npy", self.dtype, (total, self.dim))
        if total:
            raw = np.memmap(self._raw_path, dtype=self.dtype, mode="r", shape=(total, self.dim))
            for start in range(0, total, self.COPY_ROWS):
                out[start : start + self.COPY_ROWS] = raw[start : start + self.COPY_ROWS]
            del raw
        out.flush()
        del out
        self._raw_path.unlink()
        np.save(self.root / f"{offsets_name(self.modality)}.npy", np.asarray(self.offsets, dtype=np.int64))
        return total
