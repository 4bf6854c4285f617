"""Optimisers and the learning-rate schedule (warm-up, then cosine, step, plateau or constant).

The schedule is a pure function of the step (plus the plateau's small state), so it is saved
in checkpoints as plain numbers and a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from ..models import FusionModel
from .checkpoint import TrainableModel


def build_optimizer(model: TrainableModel, training: Mapping) -> torch.optim.Optimizer:
    """AdamW/Adam/SGD; biases, norms and embeddings (1-d or fewer params, plus CLS/modality tokens) get no decay.

    A model with `parameter_sets(lr)` (a fine-tuning model) trains each set at its own multiple of
    `training.lr` (`lr_scale`, e.g. the encoder's layers under layer-wise decay); the schedule
    scales every group alike.
    """
    if isinstance(model, FusionModel):
        sets = [(1.0, list(model.named_parameters()))]
    else:
        sets = model.parameter_sets(training["lr"])
    groups = []
    for scale, named in sets:
        decay: list[nn.Parameter] = []
        no_decay: list[nn.Parameter] = []
        for name, param in named:
            if not param.requires_grad:
                continue
            short = name.rsplit(".", 1)[-1]
            (no_decay if param.ndim < 2 or short in ("cls", "modality_embedding") else decay).append(param)
        groups += [
            {"params": params, "weight_decay": wd, "lr_scale": scale}
            for params, wd in ((decay, training["weight_decay"]), (no_decay, 0.0))
            if params
        ]
    lr, name = training["lr"], training["optimizer"]
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=training["momentum"], nesterov=training["momentum"] > 0)
    raise ValueError(f"unknown optimizer {name!r}")


class LRSchedule:
    def __init__(self, training: Mapping, steps_per_epoch: int, maximize: bool):
        self.kind = training["scheduler"]
        self.base_lr, self.min_lr = training["lr"], training["min_lr"]
        self.steps_per_epoch = max(steps_per_epoch, 1)
        self.warmup_steps = round(training["warmup_epochs"] * self.steps_per_epoch)
        self.total_steps = training["epochs"] * self.steps_per_epoch
        self.step_size, self.gamma = training["step_size"], training["gamma"]
        self.patience = training["plateau_patience"]
        self.maximize = maximize
        self.plateau_best: float | None = None
        self.plateau_scale, self.plateau_bad = 1.0, 0

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / self.warmup_steps
        if self.kind == "cosine":
            span = max(self.total_steps - self.warmup_steps, 1)
            progress = min((step - self.warmup_steps) / span, 1.0)
            return self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
        if self.kind == "step":
            return self.base_lr * self.gamma ** ((step - self.warmup_steps) // (self.step_size * self.steps_per_epoch))
        if self.kind == "plateau":
            return self.base_lr * self.plateau_scale
        return self.base_lr

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        lr = self.lr_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def epoch_end(self, value: float) -> None:
        """Feed the epoch's val metric; the plateau schedule decays after `patience` epochs without gain."""
        if self.kind != "plateau" or math.isnan(value):
            return
        better = self.plateau_best is None or (
            value > self.plateau_best if self.maximize else value < self.plateau_best
        )
        if better:
            self.plateau_best, self.plateau_bad = value, 0
        else:
            self.plateau_bad += 1
            if self.plateau_bad > self.patience:
                self.plateau_scale *= self.gamma
                self.plateau_bad = 0

    def state_dict(self) -> dict:
        return {"plateau_scale": self.plateau_scale, "plateau_best": self.plateau_best, "plateau_bad": self.plateau_bad}

    def load_state_dict(self, state: Mapping) -> None:
        self.plateau_scale, self.plateau_best, self.plateau_bad = (
            state["plateau_scale"],
            state["plateau_best"],
            state["plateau_bad"],
        )
