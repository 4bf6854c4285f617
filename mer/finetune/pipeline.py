"""Opening a processed folder for fine-tuning: the manifest as an `UtteranceStore`, tokenised, frozen encoders set.

One function serves training (settings from the config) and evaluation or prediction (settings
from the checkpoint), so the inputs a model sees at test time are made exactly as in training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from .encoders import EncoderError, EncoderSpec, build_frozen, check_loadable, load_tokenizer
from .inputs import TextInputs, UtteranceStore

if TYPE_CHECKING:
    from .model import FinetuneModel


def prepare_inputs(
    store: UtteranceStore, specs: Mapping[str, EncoderSpec], text_inputs: TextInputs, device: torch.device
) -> None:
    """Tokenise the text (with the text encoder's tokenizer) and attach each frozen encoder to the store."""
    if "text" in store.modalities:
        store.tokenize(load_tokenizer(specs["text"]), text_inputs)
    for modality in store.modalities:
        if specs[modality].mode == "frozen":
            encoder = build_frozen(specs[modality], device)
            store.set_frozen(modality, encoder, encoder.dim)
        else:
            check_loadable(specs[modality])  # the model is built per seed, later: fail now, before any output


def text_inputs_from(data: Mapping) -> TextInputs:
    """The config's data section (or a checkpoint's text_inputs) -> TextInputs."""
    if "max_tokens" in data:
        return TextInputs(**data)
    return TextInputs(data["max_text_tokens"], data["include_speaker"], data["context_window"])


def check_encoders(specs: Mapping[str, EncoderSpec], modalities: Sequence[str]) -> None:
    """Refuse what cannot work before anything is loaded or written."""
    from ..config import ConfigError

    unsupported = [m for m in modalities if m not in ("audio", "text")]
    if unsupported:
        raise ConfigError(
            f"fine-tuning trains audio and text encoders; {unsupported} is not supported here "
            "(train video on extracted features with train.py)"
        )
    for modality in modalities:
        spec = specs[modality]
        if spec.mode != "frozen" and spec.is_ctranslate2:
            raise EncoderError(
                f"{spec.model} is a CTranslate2 Whisper model: it runs without gradients and cannot be trained; "
                f"set encoders.{modality}.mode=frozen, or name a transformers speech encoder "
                "(wav2vec2, HuBERT, WavLM) for full or lora"
            )


class FinetunePipeline:
    """The Predictor's feature pipeline for a fine-tuned checkpoint: each modality's pooled vector, computed
    by the model's own encoders (the fusion head then runs as for a feature model).

    Inputs are made as in evaluation: audio is the centred `max_audio_s` crop (longer files are
    noted; a timeline with --window_s covers them), text is tokenised with the checkpoint's speaker
    prefix, context window and length cap.
    """

    def __init__(self, checkpoint: Mapping, model: FinetuneModel, device: str, batch_size: int):
        from types import SimpleNamespace

        from mer_builder.audio import TARGET_SR

        from .model import specs_from_info

        info = checkpoint["finetune"]
        self.model, self.device, self.batch_size = model, torch.device(device), batch_size
        self.specs = specs_from_info(info)
        self.text_inputs = text_inputs_from(info["text_inputs"])
        self.crop = round(info["max_audio_s"] * TARGET_SR)
        self.dims = dict(model.dims)
        self.config = SimpleNamespace(
            sample_rate=TARGET_SR, text=SimpleNamespace(context_window=self.text_inputs.context_window)
        )
        self.tokenizer = load_tokenizer(self.specs["text"]) if "text" in self.specs else None
        self.frozen = {m: build_frozen(spec, self.device) for m, spec in self.specs.items() if spec.mode == "frozen"}

    def load_waveform(self, path):
        from mer_builder.audio import load_audio

        return load_audio(path)[0]

    def _encode(self, modality: str, batch: Mapping) -> np.ndarray:
        tensors = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}
        with torch.inference_mode():
            return self.model.encode(modality, tensors).float().cpu().numpy()

    def audio_features(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        from .inputs import pad_frames, pad_waveforms

        crops = [_centre(np.asarray(w, dtype=np.float32), self.crop) for w in waveforms]
        if "audio" in self.frozen:
            frames, mask = pad_frames([f.astype(np.float16) for f in self.frozen["audio"](crops)])
            return self._encode("audio", {"audio_frames": frames, "audio_frames_mask": mask})
        wave, lengths = pad_waveforms(crops)
        return self._encode("audio", {"audio": wave, "audio_lengths": lengths})

    def text_features(
        self, texts: Sequence[str], speakers: Sequence[str | None], contexts: Sequence[Sequence]
    ) -> np.ndarray:
        from .inputs import pad_frames, pad_tokens

        window = self.text_inputs.context_window
        recent = [tuple(turns)[-window:] if window else () for turns in contexts]
        tokens = self.text_inputs.tokenize(self.tokenizer, list(texts), list(speakers), recent)
        ids, types = [t for t, _ in tokens], [k for _, k in tokens]
        if "text" in self.frozen:
            pairs = [np.asarray([i, k], dtype=np.int64) for i, k in zip(ids, types, strict=True)]
            frames, mask = pad_frames([f.astype(np.float16) for f in self.frozen["text"](pairs)])
            return self._encode("text", {"text_frames": frames, "text_frames_mask": mask})
        assert self.tokenizer is not None, "text features asked of a model without a text encoder"
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids_array, mask, types_array = pad_tokens(ids, types, pad)
        return self._encode("text", {"text_ids": ids_array, "text_mask": mask, "text_types": types_array})

    def video_features(self, paths):
        raise ValueError("fine-tuned models take audio and text only")


def _centre(waveform: np.ndarray, crop: int) -> np.ndarray:
    if len(waveform) <= crop:
        return waveform if len(waveform) else np.zeros(1, np.float32)
    start = (len(waveform) - crop) // 2
    return waveform[start : start + crop]
