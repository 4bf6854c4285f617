"""RobustATV: token fusion of [CLS, audio, text(, video)] through a small pre-norm transformer.

Each modality vector becomes one token (its encoder output plus a learned modality
embedding). A dropped or missing modality is removed from attention with the key padding
mask rather than fed as a zero token, so the model never learns to read "zeros" as a
signal and behaves the same whether a modality was dropped in training or is absent at
prediction time. The CLS token is never masked, so at least one token always attends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .base import MODELS, FusionModel
from .layers import SwiGLUHead, cls_readout, token_transformer


@MODELS.register("robust_atv", "token transformer over any of A, T, V; a missing modality is masked out of attention")
class RobustATV(FusionModel):
    accepts = frozenset({"audio", "text", "video"})

    @classmethod
    def config_arguments(cls, model_config: Mapping) -> dict:
        keys = ("num_layers", "num_heads", "ffn_mult")
        return {k: model_config[k] for k in keys}

    def __init__(
        self,
        modalities: Sequence[str],
        dims: Mapping[str, int],
        num_classes: int,
        hidden_dim: int = 256,
        dropout: float = 0.2,
        num_layers: int = 2,
        num_heads: int = 4,
        ffn_mult: int = 2,
    ):
        super().__init__()
        self._build_encoders(modalities, dims, hidden_dim, dropout)
        self.cls = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.modality_embedding = nn.Parameter(torch.zeros(1, len(self.modalities), hidden_dim))
        nn.init.normal_(self.cls, std=0.02)
        nn.init.normal_(self.modality_embedding, std=0.02)
        self.transformer = token_transformer(hidden_dim, num_layers, num_heads, ffn_mult, dropout)
        self.head = SwiGLUHead(hidden_dim, hidden_dim * ffn_mult, num_classes, dropout)

    def forward(self, features: Mapping[str, torch.Tensor], present: torch.Tensor | None = None) -> torch.Tensor:
        tokens = torch.stack(list(self.encode(features).values()), dim=1)
        return self.head(cls_readout(self.transformer, self.cls, tokens + self.modality_embedding, present))
