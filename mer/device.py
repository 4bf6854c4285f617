"""The compute device, chosen in one place for training, evaluation, feature extraction and prediction."""

from __future__ import annotations

import logging
import re

import torch

from mer_builder.errors import InputError

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
logger = logging.getLogger(__name__)


class DeviceError(InputError, ValueError):
    """The device asked for is not a device name, or is not present on this machine."""


def resolve_device(name: str) -> torch.device:
    """`auto` (CUDA when available, else CPU), `cpu`, `cuda`, `cuda:N` or `mps`; an explicit device must exist."""
    if not DEVICE_PATTERN.match(name):
        raise DeviceError(f"device must be auto, cpu, cuda, cuda:N or mps, got {name!r}")
    if name == "auto":
        if torch.cuda.is_available():
            logger.info("device: cuda (%s; chosen by device auto)", torch.cuda.get_device_name(0))
            return torch.device("cuda")
        logger.info("device: cpu (device auto found no CUDA GPU)")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"device {name} was asked for, but torch sees no CUDA GPU; use auto or cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("device mps was asked for, but the MPS backend is not available; use auto or cpu")
    logger.info("device: %s (as asked)", name)
    return torch.device(name)
