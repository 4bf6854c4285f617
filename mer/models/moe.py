"""MixtureOfExperts: modality tokens routed among expert MLPs, with a load-balancing loss.

Each modality vector becomes a token (its encoder output plus a learned modality embedding).
A router scores every token against `num_experts` expert MLPs; the token goes to its `top_k`
best experts, whose outputs are mixed by the renormalised router probabilities and added back
to the token (a residual). The present tokens are averaged and classified by a SwiGLU head.

Routing (`routing`):
* `token`: each token is routed on its own content, so experts can specialise by modality or
  by what the modality says.
* `text`: every token's router also sees the transcript's token, so the words decide which
  experts process the voice and the face (text-guided routing). Where the transcript is
  missing (dropped in training, absent at prediction) its contribution is removed, and the
  tokens route on their own content.

Load balancing: a router that sends everything to one expert wastes the others. After every
forward the model exposes `aux_loss`, the switch-transformer balance term
`num_experts * sum_e f_e * P_e` (f_e: share of routing slots that chose expert e, P_e: mean
router probability of e, both over present tokens; 1.0 when perfectly balanced) times
`balance_weight`. The trainer adds any model's `aux_loss` to the training loss
(`mer.training.losses`), so no model needs a special case in the loop.

A missing modality's token is left out of routing statistics, text guidance and pooling:
its values reach neither the output nor the gradient.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .base import MODELS, FusionModel
from .layers import SwiGLUHead

ROUTINGS = ("token", "text")


class Experts(nn.Module):
    """`num_experts` two-layer GELU MLPs applied to every token at once (dense: cheap at these sizes)."""

    def __init__(self, num_experts: int, dim: int, hidden: int):
        super().__init__()
        self.w_in = nn.Parameter(torch.empty(num_experts, dim, hidden))
        self.b_in = nn.Parameter(torch.zeros(num_experts, hidden))
        self.w_out = nn.Parameter(torch.empty(num_experts, hidden, dim))
        self.b_out = nn.Parameter(torch.zeros(num_experts, dim))
        for weight, fan_in in ((self.w_in, dim), (self.w_out, hidden)):
            nn.init.uniform_(weight, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, M, D) -> every expert's output (B, M, E, D)."""
        hidden = nn.functional.gelu(torch.einsum("bmd,edh->bmeh", x, self.w_in) + self.b_in)
        return torch.einsum("bmeh,ehd->bmed", hidden, self.w_out) + self.b_out


def balance_loss(probs: torch.Tensor, chosen: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Switch-transformer load balance over the tokens where `mask` (B, M) is True.

    probs (B, M, E) router probabilities; chosen (B, M, E) 0/1 routing slots (top-k). Equals 1.0
    when slots and probabilities are spread evenly, `num_experts` when all go to one expert.
    """
    weight = mask.to(probs.dtype).unsqueeze(-1)
    tokens = weight.sum().clamp_min(1.0)
    slots = (chosen * weight).sum((0, 1))
    share = slots / slots.sum().clamp_min(1.0)
    mean_prob = (probs * weight).sum((0, 1)) / tokens
    return probs.shape[-1] * (share * mean_prob).sum()


@MODELS.register(
    "moe", "mixture of experts over A, T, V tokens: top-k routing (optionally text-guided), load-balancing loss"
)
class MixtureOfExperts(FusionModel):
    accepts = frozenset({"audio", "text", "video"})

    @classmethod
    def config_arguments(cls, model_config: Mapping) -> dict:
        keys = ("num_experts", "top_k", "routing", "balance_weight", "ffn_mult")
        return {k: model_config[k] for k in keys}

    def __init__(
        self,
        modalities: Sequence[str],
        dims: Mapping[str, int],
        num_classes: int,
        hidden_dim: int = 256,
        dropout: float = 0.2,
        num_experts: int = 4,
        top_k: int = 2,
        routing: str = "token",
        balance_weight: float = 0.01,
        ffn_mult: int = 2,
    ):
        super().__init__()
        self._build_encoders(modalities, dims, hidden_dim, dropout)
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"top_k must be between 1 and num_experts ({num_experts}), got {top_k}")
        if routing not in ROUTINGS:
            raise ValueError(f"routing must be one of {list(ROUTINGS)}, got {routing!r}")
        if routing == "text" and "text" not in modalities:
            raise ValueError(f"text-guided routing needs the text modality, got {list(modalities)}")
        self.top_k, self.routing, self.balance_weight = top_k, routing, balance_weight
        self.modality_embedding = nn.Parameter(torch.zeros(1, len(self.modalities), hidden_dim))
        nn.init.normal_(self.modality_embedding, std=0.02)
        self.norm = nn.LayerNorm(hidden_dim)
        self.router = nn.Linear(hidden_dim, num_experts)
        self.text_router = nn.Linear(hidden_dim, num_experts, bias=False) if routing == "text" else None
        self.experts = Experts(num_experts, hidden_dim, hidden_dim * ffn_mult)
        self.drop = nn.Dropout(dropout)
        self.head = SwiGLUHead(hidden_dim, hidden_dim * ffn_mult, num_classes, dropout)
        self.aux_loss: torch.Tensor | None = None
        self.routing_weights: torch.Tensor | None = None  # (B, M, E) of the last forward, for inspection

    def route(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Router probabilities (B, M, E) and the mixing weights (B, M, E), zero outside each token's top-k."""
        logits = self.router(x)
        if self.text_router is not None:
            t = self.modalities.index("text")
            guide = self.text_router(x[:, t]) * mask[:, t].to(x.dtype).unsqueeze(-1)
            logits = logits + guide.unsqueeze(1)
        probs = torch.softmax(logits.float(), dim=-1).to(x.dtype)
        top, index = probs.topk(self.top_k, dim=-1)
        weights = torch.zeros_like(probs).scatter(-1, index, top / top.sum(-1, keepdim=True))
        return probs, weights

    def forward(self, features: Mapping[str, torch.Tensor], present: torch.Tensor | None = None) -> torch.Tensor:
        tokens = torch.stack(list(self.encode(features).values()), dim=1)
        tokens = tokens + self.modality_embedding
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device) if present is None else present
        mask = mask.bool()
        x = self.norm(tokens)
        probs, weights = self.route(x, mask)
        mixed = (weights.unsqueeze(-1) * self.experts(x)).sum(dim=2)
        tokens = tokens + self.drop(mixed)
        real = mask.to(tokens.dtype).unsqueeze(-1)
        pooled = (tokens * real).sum(1) / real.sum(1).clamp_min(1.0)
        self.aux_loss = self.balance_weight * balance_loss(probs, (weights > 0).to(probs.dtype), mask)
        self.routing_weights = weights.detach()
        return self.head(pooled)
