"""The feature extractor built from a `FeatureConfig`: the one code path for training features and prediction.

Both extraction commands and `mer.predict` go through `FeaturePipeline.from_config(config)`,
so a model always sees features made exactly the way its training features were:

    config = json.load(open("F/feature_info.json"))["config"]
    pipeline = FeaturePipeline.from_config(config, device="cpu")
    feats = pipeline.extract_one(audio="clip.wav", text="Oh my God!", speaker="Rachel",
                                 context=[("Ross", "We were on a break.")], media_path="clip.mp4")
    # {"audio": (Da,), "text": (Dt,), "video": (Dv,)}; pipeline.dims == {"audio": Da, ...}
    # plus "audio_frames" (T, pipeline.frame_dims["audio"]) when the config keeps frames

Pretrained models load only when the config asks for them, so the MFCC + hashing path never
imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mer_builder.audio import load_audio

from .config import EgemapsSpec, FeatureConfig, HashingSpec, MfccSpec, SpeechEncoderSpec
from .text import TextFeaturizer, Turn

if TYPE_CHECKING:
    from .video import VideoFeatures


def _build_audio_part(spec: Any, sample_rate: int, device: str, batch_size: int) -> Any:
    if isinstance(spec, MfccSpec):
        from .mfcc import MfccExtractor

        return MfccExtractor(spec, sample_rate)
    if isinstance(spec, EgemapsSpec):
        from .egemaps import EgemapsExtractor

        return EgemapsExtractor(spec, sample_rate)
    if isinstance(spec, SpeechEncoderSpec):
        from .hf import load_speech_encoder

        encoder = load_speech_encoder(spec, device, batch_size)
        if encoder.sample_rate != sample_rate:
            raise ValueError(
                f"{spec.model} expects {encoder.sample_rate} Hz audio but the config's sample_rate is {sample_rate}"
            )
        return encoder
    raise TypeError(f"unknown audio part {spec!r}")


class FeaturePipeline:
    """The configured modalities' extractors, with fixed output widths (`dims`; a modality set to none is absent)."""

    def __init__(self, config: FeatureConfig, device: str = "cpu", batch_size: int = 16):
        self.config = config
        self.config_hash = config.hash
        pretrained_audio = any(isinstance(p, SpeechEncoderSpec) for p in config.audio)
        pretrained_text = config.text is not None and not isinstance(config.text.encoder, HashingSpec)
        if pretrained_audio or pretrained_text or config.video is not None:
            from ..device import resolve_device  # imports torch, which the MFCC + hashing path never needs

            device = str(resolve_device(device))
        self.device = device
        self._audio_parts = [_build_audio_part(p, config.sample_rate, device, batch_size) for p in config.audio]
        self._text = None
        if config.text is not None:
            encoder: Any
            if isinstance(config.text.encoder, HashingSpec):
                from .text import HashingTextEncoder

                encoder = HashingTextEncoder(config.text.encoder)
            else:
                from .hf import load_text_encoder

                encoder = load_text_encoder(config.text.encoder, device, 2 * batch_size)
            self._text = TextFeaturizer(config.text, encoder)
        self._video = None
        if config.video is not None:
            from .video import load_face_video_encoder

            self._video = load_face_video_encoder(config.video, device, 2 * batch_size)
        self.dims: dict[str, int] = {}
        if self._audio_parts:
            self.dims["audio"] = sum(p.dim for p in self._audio_parts)
        if self._text is not None:
            self.dims["text"] = self._text.dim
        if self._video is not None:
            self.dims["video"] = self._video.dim
        # Modalities whose per-frame outputs are kept too: values per frame, and the encoder's hidden layers
        # stacked in each frame (for a learned mix in the model). A speech encoder that keeps frames is the
        # config's only audio part.
        self.frame_dims: dict[str, int] = {}
        self.frame_layers: dict[str, int] = {}
        speech = self._audio_parts[0] if self._audio_parts else None
        if getattr(getattr(speech, "spec", None), "frames", False):
            self.frame_dims["audio"] = speech.frame_dim
            self.frame_layers["audio"] = len(getattr(speech, "layer_ids", [0]))
        if self._text is not None and self._text.frame_dim is not None:
            self.frame_dims["text"], self.frame_layers["text"] = self._text.frame_dim, 1

    @classmethod
    def from_config(
        cls, config: FeatureConfig | dict[str, Any], device: str = "cpu", batch_size: int = 16
    ) -> FeaturePipeline:
        """Build from a `FeatureConfig` or its saved dict (`feature_info.json["config"]`, memmap `feature_config`)."""
        return cls(config if isinstance(config, FeatureConfig) else FeatureConfig.from_dict(config), device, batch_size)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.dims)

    def load_waveform(self, path: Path | str) -> np.ndarray:
        """Decode any supported media file to mono float32 at the config's sample rate."""
        samples, _ = load_audio(path, target_sr=self.config.sample_rate)
        return samples

    def audio_features(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """(N, dims["audio"]) from mono float32 waveforms at `config.sample_rate`."""
        return self.audio_features_and_frames(waveforms)[0]

    def audio_features_and_frames(self, waveforms: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """The audio vectors (N, dims["audio"]) and, when the config keeps frames, each clip's (T_i,
        frame_dims["audio"]) frames, from one pass of the encoder."""
        if not self._audio_parts:
            raise ValueError("this feature config has no audio part (audio was set to none)")
        if "audio" in self.frame_dims:  # a speech encoder, which is then the only audio part
            return self._audio_parts[0].encode(waveforms)
        parts = [part(waveforms) for part in self._audio_parts]
        return (np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]), None

    def text_features(
        self,
        texts: Sequence[str],
        speakers: Sequence[str | None] | None = None,
        contexts: Sequence[Sequence[Turn]] | None = None,
    ) -> np.ndarray:
        """(N, dims["text"]); `contexts[i]` lists the earlier (speaker, text) turns of utterance i, oldest first."""
        return self.text_features_and_frames(texts, speakers, contexts)[0]

    def text_features_and_frames(
        self,
        texts: Sequence[str],
        speakers: Sequence[str | None] | None = None,
        contexts: Sequence[Sequence[Turn]] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """The text vectors and, when the config keeps them, each utterance's token states (T_i, frame_dims["text"])."""
        if self._text is None:
            raise ValueError("this feature config has no text part (text was set to none)")
        return self._text.encode(texts, speakers, contexts)

    def video_features(self, media_paths: Sequence[Path | str | None]) -> VideoFeatures:
        """Face vectors (N, dims["video"]) and per-clip face frame counts; None paths give zero vectors."""
        if self._video is None:
            raise ValueError("this feature config has no video part")
        return self._video(media_paths)

    def extract_one(
        self,
        audio: Path | str | np.ndarray | None,
        text: str | None,
        speaker: str | None = None,
        context: Sequence[Turn] = (),
        media_path: Path | str | None = None,
    ) -> dict[str, np.ndarray]:
        """The config's modalities of one utterance; `audio` is a media path or a waveform at `config.sample_rate`
        (None, like `text`, only when the config leaves that modality out)."""
        out: dict[str, np.ndarray] = {}
        if "audio" in self.dims:
            if audio is None:
                raise ValueError("this feature config has an audio part, so the utterance needs audio")
            waveform = self.load_waveform(audio) if isinstance(audio, str | Path) else np.asarray(audio, np.float32)
            vectors, frames = self.audio_features_and_frames([waveform])
            out["audio"] = vectors[0]
            if frames is not None:
                out["audio_frames"] = frames[0]
        if "text" in self.dims:
            if text is None:
                raise ValueError("this feature config has a text part, so the utterance needs a transcript")
            vectors, frames = self.text_features_and_frames([text], [speaker], [tuple(context)])
            out["text"] = vectors[0]
            if frames is not None:
                out["text_frames"] = frames[0]
        if self._video is not None:
            out["video"] = self.video_features([media_path]).vectors[0]
        return out
