"""Running a model over a store: the logits of every row, used by validation, evaluation and benchmarks."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from .features.store import FeatureStore
from .models import reads_frames
from .training.checkpoint import TrainableModel
from .training.data import iterate

FUSION = "fusion"  # the model's own output, beside its branch heads' (named by modality)
RAW_INPUT_BATCH = 64  # rows per forward pass over raw inputs (fine-tuning): memory grows with batch x length


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
    return predict_outputs(model, store, batch_size, device, quiet, desc)[FUSION]


@torch.no_grad()
def predict_outputs(
    model: TrainableModel,
    store: FeatureStore,
    batch_size: int,
    device: torch.device,
    quiet: bool = True,
    desc: str = "predict",
) -> dict[str, np.ndarray]:
    """`predict_logits` as {"fusion": logits} plus {modality: logits} of each branch head the model has
    (cross-modal distillation), all from the same forward passes."""
    model.eval()
    lengths = getattr(store, "lengths", None)
    order = np.argsort(lengths, kind="stable") if lengths is not None else np.arange(len(store))
    if lengths is not None:
        batch_size = min(batch_size, RAW_INPUT_BATCH)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    chunks: dict[str, list[np.ndarray]] = {FUSION: []}
    loads = iterate(store, batches, model.modalities, device, frames=reads_frames(model))
    for features, _ in tqdm(loads, total=len(batches), desc=desc, disable=quiet, leave=False):
        chunks[FUSION].append(model(features).float().cpu().numpy())
        for m, logits in getattr(model, "branch_logits", {}).items():
            chunks.setdefault(m, []).append(logits.float().cpu().numpy())
    if not chunks[FUSION]:
        return {FUSION: np.zeros((0, 0), np.float32)}
    out = {}
    for name, parts in chunks.items():
        out[name] = np.empty((len(order), parts[0].shape[1]), np.float32)
        out[name][order] = np.concatenate(parts)
    return out
