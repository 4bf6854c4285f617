"""GatedAVT: cross-modal, context-independent gated attention over audio, video and text.

Three gated fusion layers, one per modality pair (audio-video, video-text, text-audio),
are concatenated, passed through ReLU, projected and classified. A missing modality is
handled inside each pair's gate, so the pairs that still have a modality keep working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .base import MODELS, FusionModel
from .gfl import GatedFusion

PAIRS: tuple[tuple[str, str], ...] = (("audio", "video"), ("video", "text"), ("text", "audio"))


@MODELS.register("gated_avt", "pairwise audio-video, video-text, text-audio gated fusion (needs A, T and V)")
class GatedAVT(FusionModel):
    accepts = requires = frozenset({"audio", "text", "video"})

    @classmethod
    def config_arguments(cls, model_config: Mapping) -> dict:
        return {"gate": model_config["gate"]}

    def __init__(
        self,
        modalities: Sequence[str],
        dims: Mapping[str, int],
        num_classes: int,
        hidden_dim: int = 256,
        dropout: float = 0.2,
        gate: str = "sigmoid",
    ):
        super().__init__()
        self._build_encoders(modalities, dims, hidden_dim, dropout)
        self.pairs = nn.ModuleDict(
            {f"{a}_{b}": GatedFusion(hidden_dim, hidden_dim, hidden_dim, gate) for a, b in PAIRS}
        )
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(len(PAIRS) * hidden_dim, hidden_dim)
        self.classifier = nn.Linear(hidden_dim, num_classes)

    def forward(self, features: Mapping[str, torch.Tensor], present: torch.Tensor | None = None) -> torch.Tensor:
        encoded = self.encode(features)
        mask = {m: None if present is None else present[:, i] for i, m in enumerate(self.modalities)}
        fused = [self.pairs[f"{a}_{b}"](encoded[a], encoded[b], mask[a], mask[b]) for a, b in PAIRS]
        hidden = self.proj(self.drop(torch.relu(torch.cat(fused, dim=-1))))
        return self.classifier(self.drop(torch.relu(hidden)))
