"""FlexibleAT: audio and/or text, fused by one gated fusion layer, classified by a SwiGLU head.

With a single modality configured the fusion layer is not built at all (no unused weights
in the checkpoint, no wasted compute): the encoder feeds the head directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from .base import MODELS, FusionModel
from .gfl import GatedFusion
from .layers import SwiGLUHead


@MODELS.register("flexible_at", "one gated fusion layer over audio + text (or a unimodal head), SwiGLU classifier")
class FlexibleAT(FusionModel):
    accepts = frozenset({"audio", "text"})

    @classmethod
    def config_arguments(cls, model_config: Mapping) -> dict:
        return {"gate": model_config["gate"], "ffn_mult": model_config["ffn_mult"]}

    def __init__(
        self,
        modalities: Sequence[str],
        dims: Mapping[str, int],
        num_classes: int,
        hidden_dim: int = 256,
        dropout: float = 0.2,
        gate: str = "sigmoid",
        ffn_mult: int = 2,
    ):
        super().__init__()
        self._build_encoders(modalities, dims, hidden_dim, dropout)
        self.fusion = GatedFusion(hidden_dim, hidden_dim, hidden_dim, gate) if len(self.modalities) == 2 else None
        self.head = SwiGLUHead(hidden_dim, hidden_dim * ffn_mult, num_classes, dropout)

    def forward(self, features: Mapping[str, torch.Tensor], present: torch.Tensor | None = None) -> torch.Tensor:
        encoded = list(self.encode(features).values())
        if self.fusion is None:
            return self.head(encoded[0])
        p1, p2 = (None, None) if present is None else (present[:, 0], present[:, 1])
        return self.head(self.fusion(encoded[0], encoded[1], p1, p2))
