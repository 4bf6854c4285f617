"""Ragged arrays on disk: rows of different lengths as one flat `.npy` plus row offsets.

Frame sequences (a clip's encoder frames, a sentence's token states) differ in length from
row to row. They are stored as

* `<name>.npy`: every row's frames one after another, shape (total frames, width);
* `<name>_offsets.npy`: int64 (rows + 1,), row i is `flat[offsets[i]:offsets[i + 1]]`;

so nothing is padded on disk, the flat array opens memory-mapped, and a batch reads only its
rows' slices. The writer streams: the total length is unknown until the last row, so the
`.npy` header is reserved at a fixed size and filled in when the file is closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

HEADER_BYTES = 128  # magic (6) + version (2) + length (2) + the header dict, space padded, newline-terminated
MAGIC = b"\x93NUMPY\x01\x00"


def _header(dtype: np.dtype, shape: tuple[int, int]) -> bytes:
    text = f"{{'descr': {np.lib.format.dtype_to_descr(dtype)!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    body = text.ljust(HEADER_BYTES - len(MAGIC) - 2 - 1) + "\n"
    return MAGIC + len(body).to_bytes(2, "little") + body.encode("latin1")


class RaggedWriter:
    """Append (T_i, width) arrays row by row; `close()` writes the header and the offsets file."""

    def __init__(self, path: Path | str, width: int, dtype: str | np.dtype = "float16"):
        self.path, self.width, self.dtype = Path(path), int(width), np.dtype(dtype)
        self.offsets = [0]
        self._handle = self.path.open("wb")
        self._handle.write(_header(self.dtype, (0, self.width)))

    def append(self, frames: np.ndarray) -> None:
        frames = np.asarray(frames)
        if frames.ndim != 2 or frames.shape[1] != self.width:
            raise ValueError(f"expected frames of shape (T, {self.width}), got {frames.shape}")
        self._handle.write(np.ascontiguousarray(frames, dtype=self.dtype).tobytes())
        self.offsets.append(self.offsets[-1] + frames.shape[0])

    def close(self) -> np.ndarray:
        self._handle.seek(0)
        self._handle.write(_header(self.dtype, (self.offsets[-1], self.width)))
        self._handle.close()
        offsets = np.asarray(self.offsets, dtype=np.int64)
        np.save(offsets_path(self.path), offsets)
        return offsets

    def abort(self) -> None:
        """Close the file without finishing it (no-op after `close`); the caller removes the partial dir."""
        self._handle.close()


def offsets_path(path: Path | str) -> Path:
    path = Path(path)
    return path.with_name(f"{path.stem}_offsets.npy")


class RaggedArray:
    """A ragged array opened memory-mapped: `rows(index)` returns each row's (T_i, width) frames."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.flat = np.load(self.path, mmap_mode="r")
        self.offsets = np.load(offsets_path(self.path))
        if self.flat.ndim != 2 or self.offsets.ndim != 1 or self.offsets[-1] != self.flat.shape[0]:
            raise ValueError(
                f"{self.path}: flat array {self.flat.shape} and offsets (ending at {self.offsets[-1]}) disagree"
            )
        self.width = int(self.flat.shape[1])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def lengths(self, index: Sequence[int] | np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        return self.offsets[index + 1] - self.offsets[index]

    def rows(self, index: Sequence[int] | np.ndarray) -> list[np.ndarray]:
        """float32 copies of the requested rows, in the order asked."""
        return [np.asarray(self.flat[self.offsets[i] : self.offsets[i + 1]], dtype=np.float32) for i in index]
