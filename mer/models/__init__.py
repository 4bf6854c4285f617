"""Fusion models over fixed-size modality vectors, registered by name in `MODELS`; `build_model` makes one.

Every model takes `features` ({"audio": (B, Da), "text": (B, Dt), ...}) and an optional
`present` mask (B, M) in the model's modality order, and returns logits (B, num_classes).
Each has `.modalities` and `.encoders` (one `ModalityEncoder` per modality), encodes through
`FusionModel.encode` (which also runs the distillation heads, when `add_branch_heads` gave it any), and its class
declares the modalities it accepts (`accepts`) and needs (`requires`) and `from_config`,
which reads the keys of the `model` config section that it uses. To add a model: write the
class, decorate it with `@MODELS.register(name, summary)`, import its module here. A model may
also set `.aux_loss` (a scalar tensor) in its forward: the trainer adds it to the training loss
(`layers.auxiliary_loss`), so no model needs a special case in the loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .base import MODELS, FusionModel, ModalityMismatch, check_modalities
from .flexible_at import FlexibleAT
from .frames import AttentiveFrames, TokenFrames, reads_frames
from .gated_avt import GatedAVT
from .gfl import GatedFusion
from .lmf import LowRankFusion
from .moe import MixtureOfExperts
from .robust import RobustATV

__all__ = [
    "MODELS",
    "AttentiveFrames",
    "FlexibleAT",
    "FusionModel",
    "GatedAVT",
    "GatedFusion",
    "LowRankFusion",
    "MixtureOfExperts",
    "ModalityMismatch",
    "RobustATV",
    "TokenFrames",
    "build_model",
    "check_modalities",
    "reads_frames",
]


def build_model(
    model_config: Mapping,
    modalities: Sequence[str],
    dims: Mapping[str, int],
    num_classes: int,
    frame_layers: Mapping[str, int] | None = None,
) -> FusionModel:
    """A model from the `model` config section, modality names (e.g. ("audio", "text")) and their dims (values per
    frame for a model that reads frames, with `frame_layers`: the encoder layers stacked in each frame)."""
    model_class = MODELS[model_config["name"]]
    check_modalities(model_config["name"], modalities)
    extra = {"frame_layers": dict(frame_layers or {})} if model_class.reads_frames else {}
    return model_class.from_config(model_config, tuple(modalities), dict(dims), num_classes, **extra)
