"""Training losses, registered by name (`training.loss`); each is built from the `training` config section.

Every loss takes the class weights chosen by `training.class_weights` (or None) and honours
`training.label_smoothing`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from ..registry import Registry

LOSSES: Registry[Callable[[Mapping, torch.Tensor | None], nn.Module]] = Registry("loss")


@LOSSES.register("cross_entropy", "cross-entropy (with training.class_weights and training.label_smoothing)")
def cross_entropy(training: Mapping, weights: torch.Tensor | None) -> nn.Module:
    return nn.CrossEntropyLoss(weight=weights, label_smoothing=training["label_smoothing"])


class FocalLoss(nn.Module):
    """Cross-entropy scaled by (1 - p_true)^gamma, so well-classified examples weigh less (gamma 0 = cross-entropy).

    With class weights the result is the weighted mean, as for `nn.CrossEntropyLoss`.
    """

    weight: torch.Tensor | None

    def __init__(self, gamma: float, weight: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.gamma, self.label_smoothing = gamma, label_smoothing
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        per_sample = nn.functional.cross_entropy(
            logits, target, weight=self.weight, reduction="none", label_smoothing=self.label_smoothing
        )
        p_true = torch.softmax(logits.float(), dim=-1).gather(1, target.unsqueeze(1)).squeeze(1)
        scaled = (1.0 - p_true).clamp_min(0.0) ** self.gamma * per_sample
        norm = self.weight[target].sum() if self.weight is not None else torch.tensor(float(len(target)))
        return scaled.sum() / norm.clamp_min(1e-12)


@LOSSES.register("focal", "focal loss: cross-entropy down-weighting easy examples by training.focal_gamma")
def focal(training: Mapping, weights: torch.Tensor | None) -> nn.Module:
    return FocalLoss(training["focal_gamma"], weights, training["label_smoothing"])
