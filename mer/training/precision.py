"""Mixed precision on CUDA (`training.amp: bf16 | fp16`), one place for autocast, loss scaling and clipping.

bf16 needs no loss scaling; fp16 uses a gradient scaler, whose state is saved for --resume.
On the CPU (or with `none`) every call is the plain float32 path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import torch
from torch import nn

from ..config import ConfigError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    def __init__(self, amp: str, device: torch.device):
        if amp != "none" and device.type != "cuda":
            raise ConfigError(f"training.amp={amp} runs on CUDA only; this run is on {device.type} (use amp=none)")
        self.dtype = DTYPES.get(amp)
        self.device = device
        self.scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.dtype is None:
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=self.dtype):
            yield

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer, model: nn.Module, grad_clip: float | None) -> None:
        if self.scaler:
            self.scaler.unscale_(optimizer)
        if grad_clip:
            nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], grad_clip)
        if self.scaler:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()

    def state_dict(self) -> dict:
        return self.scaler.state_dict() if self.scaler else {}

    def load_state_dict(self, state: Mapping) -> None:
        if self.scaler and state:
            self.scaler.load_state_dict(dict(state))
