"""The fine-tuned model: per-modality encoder (trainable, or frozen frames from the store) -> pooling -> fusion head.

    tokens / waveform --[backbone, full or lora]--\\
                                                   > frames (B, T, D) + mask --[pooling]--> vector --\\
    frozen frames from the UtteranceStore --------/                                                   > fusion head
                                                                                                       (flexible_at,
                                                                                                       gated_avt,
                                                                                                       robust_atv)
The fusion head is the same model class train.py trains on feature vectors, built with the
pooled dims, so every head and its handling of missing modalities (the `present` mask that
modality dropout makes) carry over. A dropped modality is masked in the fusion, never
detached: the other modality's encoder keeps receiving gradient from every sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import cast

import torch
from torch import nn

from ..models import build_model
from ..models.pooling import Pooling
from .encoders import Backbone, EncoderSpec, backbone_parameter_sets, build_backbone


class FinetuneModel(nn.Module):
    def __init__(
        self,
        modalities: Sequence[str],
        specs: Mapping[str, EncoderSpec],
        frame_dims: Mapping[str, int],
        model_config: Mapping,
        num_classes: int,
    ):
        super().__init__()
        self.modalities = tuple(modalities)
        self.specs = {m: specs[m] for m in self.modalities}
        backbones = {m: build_backbone(spec) for m, spec in self.specs.items() if spec.mode != "frozen"}
        self.backbones = nn.ModuleDict(backbones)
        dims = {m: backbones[m].hidden_size if m in backbones else int(frame_dims[m]) for m in self.specs}
        self.dims_in = dims  # frames' width per modality, before pooling
        poolings = {
            m: Pooling(spec.pooling, dims[m], spec.attention_heads)
            for m, spec in self.specs.items()
            if spec.pooling != "cls"
        }
        self.poolings = nn.ModuleDict(poolings)
        self.dims = {m: poolings[m].out_dim if m in poolings else dims[m] for m in self.modalities}
        self.head = build_model(model_config, self.modalities, self.dims, num_classes)

    def encode(self, modality: str, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if modality in self.backbones:
            frames, mask = self.backbones[modality](features)
        else:
            frames, mask = features[f"{modality}_frames"], features[f"{modality}_frames_mask"]
        if modality not in self.poolings:  # cls: the first position
            return frames[:, 0]
        return self.poolings[modality](frames, mask)

    def forward(self, features: Mapping[str, torch.Tensor], present: torch.Tensor | None = None) -> torch.Tensor:
        return self.head({m: self.encode(m, features) for m in self.modalities}, present)

    # -- what trains, at which rate, and what a checkpoint must hold ---------------------------
    def parameter_sets(self, head_lr: float) -> list[tuple[float, list[tuple[str, nn.Parameter]]]]:
        """(lr scale, named parameters): the encoders' layers at their own rates, pooling and head at 1."""
        sets = []
        for m, backbone in self.backbones.items():
            sets += [
                (scale, [(f"backbones.{m}.{n}", p) for n, p in params])
                for scale, params in backbone_parameter_sets(cast(Backbone, backbone), self.specs[m], head_lr)
            ]
        rest = [(n, p) for n, p in self.named_parameters() if p.requires_grad and not n.startswith("backbones.")]
        return [*sets, (1.0, rest)]

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """The state dict without the weights that are reloaded from the encoder's source (LoRA's frozen base)."""
        frozen = {
            f"backbones.{m}.{n}"
            for m, backbone in self.backbones.items()
            if self.specs[m].mode == "lora"
            for n, p in backbone.named_parameters()
            if not p.requires_grad
        }
        return {k: v for k, v in self.state_dict().items() if k not in frozen}

    def load_checkpoint_state(self, state: Mapping[str, torch.Tensor], source: str) -> None:
        from ..training.checkpoint import CheckpointError

        expected = self.checkpoint_state()
        missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        shapes = [k for k in set(expected) & set(state) if expected[k].shape != state[k].shape]
        if missing or unexpected or shapes:
            raise CheckpointError(
                f"{source}: the stored weights do not fit the fine-tuning model "
                f"(missing {missing[:5]}, unexpected {unexpected[:5]}, shape mismatches {shapes[:5]})"
            )
        self.load_state_dict(state, strict=False)


def encoder_specs(config: Mapping, modalities: Sequence[str]) -> dict[str, EncoderSpec]:
    return {m: EncoderSpec.from_config(m, config["encoders"][m]) for m in modalities}


def finetune_info(model: FinetuneModel, config: Mapping) -> dict:
    """What a checkpoint needs, beyond its weights, to rebuild the model and its inputs."""
    data = config["data"]
    return {
        "encoders": {m: asdict(spec) for m, spec in model.specs.items()},
        "frame_dims": {m: int(model.dims_in[m]) for m in model.modalities if m not in model.backbones},
        "text_inputs": {
            "max_tokens": data["max_text_tokens"],
            "include_speaker": data["include_speaker"],
            "context_window": data["context_window"],
        },
        "max_audio_s": data["max_audio_s"],
    }


def specs_from_info(info: Mapping) -> dict[str, EncoderSpec]:
    return {
        m: EncoderSpec(**{**spec, "lora_targets": tuple(spec["lora_targets"]) if spec["lora_targets"] else None})
        for m, spec in info["encoders"].items()
    }


def model_from_finetune_checkpoint(checkpoint: Mapping, source: str) -> FinetuneModel:
    info = checkpoint["finetune"]
    model = FinetuneModel(
        checkpoint["modalities"],
        specs_from_info(info),
        info["frame_dims"],
        checkpoint["model_config"],
        len(checkpoint["labels"]),
    )
    model.load_checkpoint_state(checkpoint["model_state"], source)
    return model
