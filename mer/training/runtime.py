"""Seeds, determinism and the compute device."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ..config import ConfigError


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


def resolve_device(name: str) -> tuple[torch.device, str]:
    """The torch device for `training.device`, and a sentence saying which and why."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device(
                "cuda"
            ), f"device: cuda ({torch.cuda.get_device_name(0)}; chosen by training.device=auto)"
        return torch.device("cpu"), "device: cpu (training.device=auto found no CUDA GPU)"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"training.device={name} but torch sees no CUDA GPU; use training.device=auto or cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("training.device=mps but the MPS backend is not available; use training.device=auto or cpu")
    return torch.device(name), f"device: {name} (set by training.device)"
