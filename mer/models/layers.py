"""Building blocks shared by the fusion models: the per-modality encoder, the token transformer and the SwiGLU
classifier head."""

from __future__ import annotations

import torch
from torch import nn


class ModalityEncoder(nn.Module):
    """Standardise with stored train statistics, LayerNorm, project to the fusion width.

    The statistics live in buffers, so a checkpoint carries them and prediction needs no
    side file; `mean`'s length is the feature dim the model was trained on.
    """

    mean: torch.Tensor
    inv_std: torch.Tensor

    def __init__(self, in_dim: int, out_dim: int, dropout: float):
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("inv_std", torch.ones(in_dim))
        self.norm = nn.LayerNorm(in_dim)
        self.proj = nn.Linear(in_dim, out_dim)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    @torch.no_grad()
    def set_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.inv_std.copy_(1.0 / std.clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.act(self.proj(self.norm((x - self.mean) * self.inv_std))))


def token_transformer(dim: int, num_layers: int, num_heads: int, ffn_mult: int, dropout: float) -> nn.Module:
    """The small pre-norm transformer of the token fusions (`cls_readout` runs it)."""
    layer = nn.TransformerEncoderLayer(
        dim, num_heads, dim_feedforward=dim * ffn_mult, dropout=dropout, activation="gelu", batch_first=True,
        norm_first=True,
    )  # fmt: skip
    return nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)


def cls_readout(
    transformer: nn.Module, cls: torch.Tensor, tokens: torch.Tensor, keep: torch.Tensor | None = None
) -> torch.Tensor:
    """[CLS] + tokens (B, T, D) through `transformer`; the CLS output (B, D). Tokens with `keep` False are masked
    out of attention; the CLS token never is, so every row attends to something."""
    batch = tokens.shape[0]
    sequence = torch.cat([cls.expand(batch, -1, -1), tokens], dim=1)
    padding = None
    if keep is not None:
        padding = torch.cat([torch.zeros(batch, 1, dtype=torch.bool, device=keep.device), ~keep.bool()], 1)
    return transformer(sequence, src_key_padding_mask=padding)[:, 0]


class SwiGLUHead(nn.Module):
    """LayerNorm, SwiGLU feed-forward, linear classifier."""

    def __init__(self, dim: int, hidden: int, num_classes: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.gate_value = nn.Linear(dim, 2 * hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.gate_value(self.norm(x)).chunk(2, dim=-1)
        return self.out(self.drop(nn.functional.silu(gate) * value))


def auxiliary_loss(model: nn.Module) -> torch.Tensor | float:
    """The sum of the auxiliary losses that the model and its submodules (a fusion head inside a
    fine-tuning model) set as `aux_loss` during their last forward, e.g. the mixture of experts'
    load balance, already weighted; 0.0 when there are none. The trainer adds it to the loss."""
    losses = [loss for m in model.modules() if isinstance(loss := getattr(m, "aux_loss", None), torch.Tensor)]
    return sum(losses[1:], losses[0]) if losses else 0.0
