"""Running a model over a store: the logits of every row, used by validation, evaluation and benchmarks."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from .features.store import FeatureStore
from .models import reads_frames
from .training.checkpoint import TrainableModel
from .training.data import iterate

RAW_INPUT_BATCH = 64  # rows per forward pass over raw inputs (fine-tuning): memory grows with batch x length


@torch.no_grad()
def predict_logits(
    model: TrainableModel,
    store: FeatureStore,
    batch_size: int,
    device: torch.device,
    quiet: bool = True,
    desc: str = "predict",
) -> np.ndarray:
    """Logits (N, C) for every row of `store`, in row order. Rows of raw inputs (fine-tuning) are
    batched by length, so a batch pads little; the logits come back in row order all the same."""
    model.eval()
    lengths = getattr(store, "lengths", None)
    order = np.argsort(lengths, kind="stable") if lengths is not None else np.arange(len(store))
    if lengths is not None:
        batch_size = min(batch_size, RAW_INPUT_BATCH)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    chunks = []
    loads = iterate(store, batches, model.modalities, device, frames=reads_frames(model))
    for features, _ in tqdm(loads, total=len(batches), desc=desc, disable=quiet, leave=False):
        chunks.append(model(features).float().cpu().numpy())
    if not chunks:
        return np.zeros((0, 0), np.float32)
    logits = np.empty((len(order), chunks[0].shape[1]), np.float32)
    logits[order] = np.concatenate(chunks)
    return logits
