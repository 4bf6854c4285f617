"""Seeds and determinism (the compute device: `mer.device`)."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, numpy and torch; optionally ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it for reproducible matmuls
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def seed_epoch(value: int) -> None:
    """Seed every generator an epoch may draw from (torch for dropout, numpy and random for the
    encoders that use them, e.g. wav2vec2's time masking), so a resumed epoch repeats exactly."""
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)


def epoch_seed(seed: int, epoch: int) -> int:
    """The torch seed for one epoch (dropout, modality dropout, noise), so a resumed epoch repeats exactly."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
