"""Pooling a sequence of frames or tokens into one vector, over the real positions only.

Every pooling takes `x` (B, T, D) and `mask` (B, T), True at real positions, and returns
(B, out_dim). Padding never changes the result, so a batch padded to its longest member
pools each row exactly as that row alone would be pooled.

* `mean`: the masked mean (D).
* `mean_std`: masked mean and standard deviation, concatenated (2D): the classic
  utterance-level statistics of speech emotion recognition.
* `attentive`: learned attention over positions, `heads` independent weightings, each
  giving a weighted mean and weighted standard deviation (attentive statistics pooling),
  concatenated (2 x heads x D). It learns which frames carry the emotion instead of
  averaging them all.
"""

from __future__ import annotations

import torch
from torch import nn

POOLINGS = ("mean", "mean_std", "attentive")
_EPS = 1e-5


def _weighted_moments(x: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, T, D), weights (B, T, H) summing to 1 over T -> mean and std (B, H, D)."""
    mean = torch.einsum("bth,btd->bhd", weights, x)
    second = torch.einsum("bth,btd->bhd", weights, x * x)
    return mean, (second - mean * mean).clamp_min(_EPS).sqrt()


class Pooling(nn.Module):
    def __init__(self, kind: str, dim: int, heads: int = 1, attention_dim: int = 128):
        super().__init__()
        if kind not in POOLINGS:
            raise ValueError(f"pooling must be one of {list(POOLINGS)}, got {kind!r}")
        self.kind, self.dim, self.heads = kind, dim, heads
        self.attention = (
            nn.Sequential(nn.Linear(dim, attention_dim), nn.Tanh(), nn.Linear(attention_dim, heads))
            if kind == "attentive"
            else None
        )

    @property
    def out_dim(self) -> int:
        return {"mean": self.dim, "mean_std": 2 * self.dim, "attentive": 2 * self.heads * self.dim}[self.kind]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        real = mask.to(x.dtype).unsqueeze(-1)  # (B, T, 1)
        if self.attention is None:
            weights = real / real.sum(1, keepdim=True).clamp_min(1.0)
            mean, std = _weighted_moments(x, weights)
            return mean[:, 0] if self.kind == "mean" else torch.cat([mean[:, 0], std[:, 0]], dim=-1)
        scores = self.attention(x).float().masked_fill(~mask.bool().unsqueeze(-1), float("-inf"))
        weights = torch.softmax(scores, dim=1).nan_to_num(0.0).to(x.dtype)  # a row with no frames pools to 0
        mean, std = _weighted_moments(x, weights)
        return torch.cat([mean, std], dim=-1).flatten(1)
