"""Running a model over a feature store: the logits of every row, used by validation, evaluation and benchmarks."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from .features.store import FeatureStore
from .models import FusionModel
from .training.data import batch_rows, iterate


@torch.no_grad()
def predict_logits(
    model: FusionModel,
    store: FeatureStore,
    batch_size: int,
    device: torch.device,
    quiet: bool = True,
    desc: str = "predict",
) -> np.ndarray:
    """Logits (N, C) for every row of `store`, in row order."""
    model.eval()
    order = np.arange(len(store))
    chunks = []
    progress = tqdm(total=len(batch_rows(order, batch_size)), desc=desc, disable=quiet, leave=False)
    for features, _ in iterate(store, order, batch_size, model.modalities, device):
        chunks.append(model(features).float().cpu().numpy())
        progress.update()
    progress.close()
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
