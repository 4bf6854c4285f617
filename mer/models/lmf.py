"""LowRankFusion: low-rank multimodal fusion (LMF, Liu et al., ACL 2018) over any subset of A/T/V.

Tensor fusion appends a constant 1 to every modality vector, z_m = [h_m; 1], and maps the outer
product z_a ⊗ z_t ⊗ z_v through one weight tensor W, so the output holds the unimodal, bimodal
and trimodal interaction terms. W is huge (prod_m (D_m + 1) x out), so LMF writes it as a sum
of `rank` outer products of modality-specific factors,

    W = sum_r  w_r  W_a^(r) ⊗ W_t^(r) ⊗ W_v^(r),      W_m^(r): (D_m + 1) x out

and computes the fusion without ever forming the tensor:

    h = sum_r w_r * prod_m (z_m W_m^(r)) + b

(cost linear in the number of modalities instead of exponential). The fused vector is then
classified by the SwiGLU head shared with the other models.

A missing modality is given z_m = [0; 1]: the outer product then keeps exactly the terms of
the modalities that are present, as tensor fusion itself defines it, and the missing one's
values reach neither the output nor the gradient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .base import MODELS, FusionModel
from .layers import SwiGLUHead


@MODELS.register("lmf", "low-rank multimodal fusion (tensor fusion with rank-r factors) over any of A, T, V")
class LowRankFusion(FusionModel):
    accepts = frozenset({"audio", "text", "video"})

    @classmethod
    def config_arguments(cls, model_config: Mapping) -> dict:
        return {k: model_config[k] for k in ("rank", "ffn_mult")}

    def __init__(
        self,
        modalities: Sequence[str],
        dims: Mapping[str, int],
        num_classes: int,
        hidden_dim: int = 256,
        dropout: float = 0.2,
        rank: int = 4,
        ffn_mult: int = 2,
    ):
        super().__init__()
        self._build_encoders(modalities, dims, hidden_dim, dropout)
        self.factors = nn.ParameterDict(
            {m: nn.Parameter(torch.empty(rank, hidden_dim + 1, hidden_dim)) for m in self.modalities}
        )
        for factor in self.factors.values():
            nn.init.xavier_normal_(factor)
        self.rank_weights = nn.Parameter(torch.empty(1, rank))
        nn.init.xavier_normal_(self.rank_weights)
        self.bias = nn.Parameter(torch.zeros(hidden_dim))
        self.head = SwiGLUHead(hidden_dim, hidden_dim * ffn_mult, num_classes, dropout)

    def fuse(self, encoded: Sequence[torch.Tensor], present: torch.Tensor | None = None) -> torch.Tensor:
        """The low-rank tensor fusion of the encoded modalities (each (B, D), in model order) -> (B, D)."""
        product = None
        for i, (m, h) in enumerate(zip(self.modalities, encoded, strict=True)):
            if present is not None:
                h = h * present[:, i].to(h.dtype).unsqueeze(-1)
            z = torch.cat([h, torch.ones_like(h[:, :1])], dim=-1)
            projected = torch.einsum("bd,rdo->rbo", z, self.factors[m])
            product = projected if product is None else product * projected
        return torch.einsum("xr,rbo->bo", self.rank_weights, product) + self.bias

    def forward(self, features: Mapping[str, torch.Tensor], present: torch.Tensor | None = None) -> torch.Tensor:
        encoded = list(self.encode(features).values())
        return self.head(self.fuse(encoded, present))
