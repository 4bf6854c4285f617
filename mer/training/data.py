"""Batches read by row index from a feature store, in a seeded order, with the next batch read ahead.

The whole store is never loaded: each batch asks the store for its rows (a memmap store reads
only those rows from disk). The order of an epoch depends only on (seed, epoch), so a resumed
run sees exactly the batches an uninterrupted one would have.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar, cast

import numpy as np
import torch
from tqdm import tqdm

from ..features.store import FeatureStore, RawInputStore

T = TypeVar("T")
STATS_CHUNK = 8192
FRAME_STATS_CHUNK = 256  # rows per read when the statistics are over frames (a chunk is padded to its longest)


class FramesStore(Protocol):
    """A store that also keeps per-frame outputs (`mer.features.frames`)."""

    frame_dims: dict[str, int]

    def batch(self, rows: np.ndarray, frames: Sequence[str] = ()) -> dict[str, np.ndarray]: ...


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_rows(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Consecutive slices of `order`, each sorted so a memmap read walks forward through the file."""
    return [np.sort(order[i : i + batch_size]) for i in range(0, len(order), batch_size)]


def read_ahead(load: Callable[[np.ndarray], T], items: Sequence[np.ndarray], depth: int = 2) -> Iterator[T]:
    """`load(item)` for each item in order, with up to `depth` loads running in a background thread
    while the caller computes on the previous one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: deque = deque()
        upcoming = iter(items)
        for item in upcoming:
            pending.append(pool.submit(load, item))
            if len(pending) >= depth:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(upcoming, None)
            if nxt is not None:
                pending.append(pool.submit(load, nxt))
            yield result


def length_batches(order: np.ndarray, lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Batches of rows of similar length, in a seeded random order of batches.

    The epoch's shuffled order is cut into pools of 50 batches; each pool is sorted by length
    and cut into batches, and the batches of all pools are shuffled. Every row is seen once per
    epoch, batches stay random in content, and padding to the longest row wastes little.
    """
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [np.sort(chunk[i : i + batch_size]) for i in range(0, len(chunk), batch_size)]
    shuffled = np.random.default_rng([seed, epoch, 1]).permutation(len(batches))
    return [batches[i] for i in shuffled]


def uses_key(key: str, modalities: Sequence[str]) -> bool:
    """A batch entry belongs to a used modality: `audio`, or `audio_lengths`, `text_ids`, `audio_frames`, ..."""
    return key.split("_", 1)[0] in modalities


def to_tensors(
    batch: dict[str, np.ndarray], modalities: Sequence[str], device: torch.device
) -> tuple[dict, torch.Tensor]:
    features = {
        k: torch.from_numpy(v).to(device, non_blocking=True)
        for k, v in batch.items()
        if k != "labels" and uses_key(k, modalities)
    }
    return features, torch.from_numpy(batch["labels"]).to(device)


def iterate(
    store: FeatureStore,
    batches: Sequence[np.ndarray],
    modalities: Sequence[str],
    device: torch.device,
    crop_seed: Sequence[int] | None = None,
    frames: Sequence[str] = (),
) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    """(features, labels) tensors for each batch of rows. With `crop_seed` (training on raw inputs),
    each batch gets its own random generator for augmentation, seeded by crop_seed and its first row.
    `frames`: modalities whose stored frames the model reads (padded per batch, with their masks)."""

    def load(rows: np.ndarray) -> tuple[dict, torch.Tensor]:
        if frames:
            return to_tensors(cast(FramesStore, store).batch(rows, frames=frames), modalities, device)
        if crop_seed is None:
            return to_tensors(store.batch(rows), modalities, device)
        rng = np.random.default_rng([*crop_seed, int(rows[0]) if len(rows) else 0])
        return to_tensors(cast(RawInputStore, store).batch(rows, rng=rng), modalities, device)

    yield from read_ahead(load, batches)


def feature_statistics(
    store: FeatureStore,
    modalities: Sequence[str],
    chunk: int = STATS_CHUNK,
    quiet: bool = True,
    frames: Sequence[str] = (),
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per-feature mean and std of each modality, accumulated chunk by chunk in float64; for the modalities in
    `frames`, over all real frames of every row (in chunks of FRAME_STATS_CHUNK rows, so padding stays small)."""
    n = len(store)
    widths = {m: (cast(FramesStore, store).frame_dims if m in frames else store.dims)[m] for m in modalities}
    sums = {m: np.zeros(widths[m]) for m in modalities}
    squares = {m: np.zeros(widths[m]) for m in modalities}
    counts = dict.fromkeys(modalities, 0.0)
    size = min(chunk, FRAME_STATS_CHUNK) if frames else chunk
    chunks = [np.arange(i, min(i + size, n)) for i in range(0, n, size)]

    def load(rows: np.ndarray) -> dict[str, np.ndarray]:
        return cast(FramesStore, store).batch(rows, frames=frames) if frames else store.batch(rows)

    for batch in tqdm(read_ahead(load, chunks), total=len(chunks), desc="feature statistics", disable=quiet):
        for m in modalities:
            if m in frames:
                values = batch[f"{m}_frames"][batch[f"{m}_frames_mask"]].astype(np.float64)
            else:
                values = batch[m].astype(np.float64)
            counts[m] += len(values)
            sums[m] += values.sum(axis=0)
            squares[m] += np.square(values).sum(axis=0)
    stats = {}
    for m in modalities:
        mean = sums[m] / max(counts[m], 1)
        std = np.sqrt(np.maximum(squares[m] / max(counts[m], 1) - mean**2, 0.0))
        stats[m] = (torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32))
    return stats


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """n / (K * n_c) for the K classes present; classes absent from training get weight 0."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)
