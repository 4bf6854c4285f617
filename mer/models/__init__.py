"""Fusion models over fixed-size modality vectors: the registry `MODELS` and `build_model`.

Every model takes `features` ({"audio": (B, Da), "text": (B, Dt), ...}) and an optional
`present` mask (B, M) in the model's modality order, and returns logits (B, num_classes).
Each has `.modalities` and `.encoders` (one `ModalityEncoder` per modality). A model may also
set `.aux_loss` (a scalar tensor) in its forward: the trainer adds it to the training loss
(`layers.auxiliary_loss`), so no model needs a special case in the loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import nn

from .flexible_at import FlexibleAT
from .gated_avt import GatedAVT
from .gfl import GatedFusion
from .lmf import LowRankFusion
from .moe import MixtureOfExperts
from .robust import RobustATV

__all__ = [
    "MODELS",
    "FlexibleAT",
    "GatedAVT",
    "GatedFusion",
    "LowRankFusion",
    "MixtureOfExperts",
    "RobustATV",
    "build_model",
]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its class and the `model.*` config keys its constructor takes besides
    `hidden_dim` and `dropout`."""

    cls: type[nn.Module]
    keys: tuple[str, ...]


MODELS: dict[str, ModelSpec] = {
    "flexible_at": ModelSpec(FlexibleAT, ("gate", "ffn_mult")),
    "gated_avt": ModelSpec(GatedAVT, ("gate",)),
    "robust_atv": ModelSpec(RobustATV, ("num_layers", "num_heads", "ffn_mult")),
    "moe": ModelSpec(MixtureOfExperts, ("num_experts", "top_k", "routing", "balance_weight", "ffn_mult")),
    "lmf": ModelSpec(LowRankFusion, ("rank", "ffn_mult")),
}


def build_model(
    model_config: Mapping, modalities: Sequence[str], dims: Mapping[str, int], num_classes: int
) -> nn.Module:
    """A model from the `model` config section, modality names (e.g. ("audio", "text")) and their dims."""
    name = model_config["name"]
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {list(MODELS)}")
    spec = MODELS[name]
    return spec.cls(
        modalities=tuple(modalities),
        dims=dict(dims),
        num_classes=num_classes,
        hidden_dim=model_config["hidden_dim"],
        dropout=model_config["dropout"],
        **{key: model_config[key] for key in spec.keys},
    )
