"""AttentiveFrames: a fusion model over stored frame sequences instead of one vector per clip.

Mean+std vectors weigh every frame of a clip alike; here each modality's frames (read from the
ragged store, padded per batch with a mask) are projected frame by frame, pooled by learned
attention (`mer.models.pooling.Pooling`, attentive statistics), and the pooled vectors go into
any fusion head of the registry (`model.frames_head`: flexible_at, robust_atv, ...), which
keeps that head's handling of missing modalities.

Frames that hold several hidden layers of the encoder (`--audio_layers all` or a list) are
mixed first, as SUPERB does: each layer is layer-normalised and the layers are summed with
softmax weights learned with the rest (`FrameEncoder.layer_weights`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .base import MODELS, FusionModel
from .layers import ModalityEncoder, SwiGLUHead, cls_readout, token_transformer
from .pooling import Pooling


class FrameEncoder(nn.Module):
    """Standardise each frame with stored train statistics, mix its layers, project to the fusion width."""

    mean: torch.Tensor
    inv_std: torch.Tensor

    def __init__(self, in_dim: int, layers: int, out_dim: int, dropout: float):
        super().__init__()
        if layers < 1 or in_dim % layers:
            raise ValueError(f"a frame of {in_dim} values cannot hold {layers} layers of equal width")
        self.layers, self.width = layers, in_dim // layers
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("inv_std", torch.ones(in_dim))
        self.layer_logits = nn.Parameter(torch.zeros(layers)) if layers > 1 else None
        self.project = ModalityEncoder(self.width, out_dim, dropout)

    @torch.no_grad()
    def set_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.inv_std.copy_(1.0 / std.clamp_min(1e-6))

    @property
    def layer_weights(self) -> torch.Tensor:
        """The softmax weight of each stacked layer (one weight 1.0 with a single layer)."""
        if self.layer_logits is None:
            return torch.ones(1)
        return torch.softmax(self.layer_logits.detach(), dim=0)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = (frames - self.mean) * self.inv_std
        if self.layer_logits is not None:
            x = torch.einsum(
                "btld,l->btd", x.unflatten(-1, (self.layers, self.width)), torch.softmax(self.layer_logits, 0)
            )
        return self.project(x)


class FramesModel(FusionModel):
    """A fusion model over stored frame sequences: batches carry `<m>_frames` + `<m>_frames_mask`, `dims` are
    values per frame, and each modality's `FrameEncoder` standardises, mixes layers and projects every frame."""

    accepts = frozenset({"audio", "text"})  # the modalities whose encoders give frames (video keeps none)
    reads_frames = True

    def _build_frame_encoders(
        self,
        modalities: Sequence[str],
        dims: Mapping[str, int],
        hidden_dim: int,
        dropout: float,
        frame_layers: Mapping[str, int] | None,
    ) -> None:
        self._build_encoders(modalities, dims, hidden_dim, dropout)  # checks the modalities
        self.frame_layers = {m: int((frame_layers or {}).get(m, 1)) for m in self.modalities}
        self.encoders = nn.ModuleDict(
            {m: FrameEncoder(dims[m], self.frame_layers[m], hidden_dim, dropout) for m in self.modalities}
        )


@MODELS.register(
    "attentive_frames",
    "per-frame projection and attentive statistics pooling over stored frames (learned layer mix), then a fusion head",
)
class AttentiveFrames(FramesModel):
    @classmethod
    def config_arguments(cls, model_config: Mapping) -> dict[str, Any]:
        return {
            "head": model_config["frames_head"],
            "pool_heads": model_config["pool_heads"],
            "head_config": dict(model_config),
        }

    def __init__(
        self,
        modalities: Sequence[str],
        dims: Mapping[str, int],
        num_classes: int,
        hidden_dim: int = 256,
        dropout: float = 0.2,
        head: str = "flexible_at",
        pool_heads: int = 1,
        head_config: Mapping | None = None,
        frame_layers: Mapping[str, int] | None = None,
    ):
        super().__init__()
        from . import build_model

        if MODELS[head].reads_frames:
            raise ValueError(f"model.frames_head must be a head over vectors, got {head!r}")
        self._build_frame_encoders(modalities, dims, hidden_dim, dropout, frame_layers)
        poolings = {m: Pooling("attentive", hidden_dim, pool_heads) for m in self.modalities}
        self.poolings = nn.ModuleDict(poolings)
        pooled = {m: poolings[m].out_dim for m in self.modalities}
        config = {"hidden_dim": hidden_dim, "dropout": dropout, **(head_config or {}), "name": head}
        self.head = build_model(config, self.modalities, pooled, num_classes)

    def forward(self, features: Mapping[str, torch.Tensor], present: torch.Tensor | None = None) -> torch.Tensor:
        pooled = {
            m: self.poolings[m](self.encoders[m](features[f"{m}_frames"]), features[f"{m}_frames_mask"])
            for m in self.modalities
        }
        return self.head(pooled, present)


@MODELS.register(
    "token_frames",
    "token transformer over the stored frames of A and T together (per-frame projection, CLS readout)",
)
class TokenFrames(FramesModel):
    """Cross-modal attention at frame level: every stored frame of every modality is a token (projected by
    a `FrameEncoder`, plus a learned modality embedding) and a small transformer reads them all through a
    CLS token. Padding frames and the frames of a dropped or missing modality are masked out of attention,
    as in `robust_atv` (which sees one token per modality)."""

    @classmethod
    def config_arguments(cls, model_config: Mapping) -> dict[str, Any]:
        return {k: model_config[k] for k in ("num_layers", "num_heads", "ffn_mult")}

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
        frame_layers: Mapping[str, int] | None = None,
    ):
        super().__init__()
        self._build_frame_encoders(modalities, dims, hidden_dim, dropout, frame_layers)
        self.cls = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.modality_embedding = nn.Parameter(torch.zeros(len(self.modalities), hidden_dim))
        nn.init.normal_(self.cls, std=0.02)
        nn.init.normal_(self.modality_embedding, std=0.02)
        self.transformer = token_transformer(hidden_dim, num_layers, num_heads, ffn_mult, dropout)
        self.head = SwiGLUHead(hidden_dim, hidden_dim * ffn_mult, num_classes, dropout)

    def forward(self, features: Mapping[str, torch.Tensor], present: torch.Tensor | None = None) -> torch.Tensor:
        tokens, keep = [], []
        for index, m in enumerate(self.modalities):
            tokens.append(self.encoders[m](features[f"{m}_frames"]) + self.modality_embedding[index])
            mask = features[f"{m}_frames_mask"].bool()
            keep.append(mask if present is None else mask & present[:, index : index + 1].bool())
        return self.head(cls_readout(self.transformer, self.cls, torch.cat(tokens, 1), torch.cat(keep, 1)))


def reads_frames(model: Any) -> tuple[str, ...]:
    """The modalities whose frames a model (or registered model class) reads from the store; () for vectors."""
    return tuple(getattr(model, "modalities", ())) if getattr(model, "reads_frames", False) else ()
