"""Per-item failure isolation for batched feature work, and the one check of a feature vector.

Extraction and prediction both run encoders on batches; one undecodable clip or one vector of
NaNs must fail only its own item, with its reason, never the batch or the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def isolated(compute: Callable[[list], Sequence[Any] | np.ndarray], items: list, batch_size: int | None = None) -> list:
    """`compute` over batches of `items` (one batch by default), results in item order. When a batch
    raises, each of its items runs alone, so a bad item gets its exception in its place and the others
    their results."""
    size = batch_size or max(1, len(items))
    out: list = []
    for start in range(0, len(items), size):
        chunk = items[start : start + size]
        try:
            out.extend(compute(chunk))
            continue
        except Exception as exc:
            if len(chunk) == 1:
                out.append(exc)
                continue
        for item in chunk:
            try:
                out.extend(compute([item]))
            except Exception as exc:
                out.append(exc)
    return out


def vector_problem(name: str, vector: np.ndarray, dim: int | None = None) -> tuple[str, str] | None:
    """(reason, message) when a feature vector cannot be used (wrong width, NaN or inf), else None."""
    if dim is not None and vector.shape != (dim,):
        return "dimension_mismatch", f"{name} features have shape {vector.shape}, expected ({dim},)"
    if not np.all(np.isfinite(vector)):
        return "non_finite_features", f"{name} features contain NaN or inf"
    return None


def finite_or_error(vectors: Sequence[np.ndarray] | np.ndarray, name: str = "the") -> list[np.ndarray | Exception]:
    """Each vector, or a ValueError in its place when it holds NaN or inf."""
    out: list[np.ndarray | Exception] = []
    for vector in vectors:
        problem = vector_problem(name, np.asarray(vector))
        out.append(ValueError(problem[1]) if problem else vector)
    return out
