"""The feature extraction config: everything that decides the numbers in a feature vector, and nothing else.

It is saved in `feature_info.json` (and copied into memmap dirs), and its hash is stored in
every pickle, so a resumed run only skips pickles made by the same config and prediction can
rebuild the exact extractor with `FeaturePipeline.from_config(saved_config)`. Runtime choices
that do not change the numbers (device, batch size, workers) are deliberately not part of it.

Serialised form (JSON):

    {"format_version": 1, "sample_rate": 16000,
     "audio": [{"type": "mfcc", ...}, {"type": "egemaps", ...}] | [{"type": "speech_encoder", ...}],
     "text": {"encoder": {"type": "hashing", ...} | {"type": "text_encoder", ...},
              "include_speaker": false, "context_window": 0},
     "video": null | {"type": "face", ...}}

Audio parts are concatenated in order. With `context_window > 0` the text vector is
`[utterance block, context block]`: the dialogue context gets its own channel instead of
being mixed into the utterance's bag of words (mixing it in was measured to hurt on MELD).
A modality can be left out: `"audio": []`, `"text": null`, `"video": null` (at least one stays).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from mer_builder.errors import InputError

FORMAT_VERSION = 1
AUDIO_POOLINGS = ("mean", "meanstd")
LAYER_CHOICES = ("last", "all")  # or a comma-separated list of hidden-state indices, e.g. "4,8,12"
TEXT_POOLINGS = ("mean", "meanstd", "cls")


class FeatureConfigError(InputError, ValueError):
    """A feature config that cannot be built (unknown key, bad value, unsupported combination)."""


@dataclass(frozen=True)
class MfccSpec:
    """MFCCs over the whole utterance, summarised as mean and std over frames (2 * n_mfcc values).

    Defaults are librosa's (`librosa.feature.mfcc` with Slaney mel, HTK off, power 2, top_db 80).
    """

    type: ClassVar[str] = "mfcc"
    n_mfcc: int = 80
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    top_db: float | None = 80.0

    def check(self, sample_rate: int) -> None:
        if not 0 < self.n_mfcc <= self.n_mels:
            raise FeatureConfigError(f"n_mfcc must be in 1..n_mels ({self.n_mels}), got {self.n_mfcc}")
        if self.n_fft <= 0 or self.hop_length <= 0:
            raise FeatureConfigError("n_fft and hop_length must be positive")
        fmax = sample_rate / 2 if self.fmax is None else self.fmax
        if not 0 <= self.fmin < fmax <= sample_rate / 2:
            raise FeatureConfigError(f"need 0 <= fmin < fmax <= {sample_rate / 2} Hz, got {self.fmin}, {fmax}")


@dataclass(frozen=True)
class EgemapsSpec:
    """openSMILE functionals (eGeMAPSv02: 88 values); needs the optional, non-commercial `opensmile`."""

    type: ClassVar[str] = "egemaps"
    feature_set: str = "eGeMAPSv02"

    def check(self, sample_rate: int) -> None:
        if not self.feature_set:
            raise FeatureConfigError("egemaps feature_set must be set (e.g. 'eGeMAPSv02')")


@dataclass(frozen=True)
class SpeechEncoderSpec:
    """A pretrained speech encoder pooled over real frames; long clips are encoded in windows of max_audio_s."""

    type: ClassVar[str] = "speech_encoder"
    model: str = "packaged:whisper-tiny.en"
    layer: int = -1
    pooling: str = "meanstd"
    max_audio_s: float = 20.0
    compute_type: str = "int8"  # CTranslate2 (packaged Whisper) weight type; ignored by transformers models
    # CTranslate2 Whisper: each clip is padded with silence to a multiple of this many seconds (30 = the
    # classic call that pads every clip to Whisper's 30 s window); ignored by transformers models
    pad_to_s: float = 1.0
    # Added after format v1: written to the saved config only when not at their defaults, so the hash
    # (and the reuse) of features extracted before they existed does not change.
    layers: str = "last"  # "last" (= `layer`), "all" hidden states, or "i,j,..."; several are stacked per frame
    frames: bool = False  # also keep the per-frame outputs (the memmap pack stores them as a ragged array)
    frame_pool: int = 1  # kept frames are averages of this many consecutive encoder frames
    max_frames: int = 0  # at most this many kept frames per clip (longer clips are averaged down); 0 = no cap
    OPTIONAL: ClassVar[dict[str, Any]] = {"layers": "last", "frames": False, "frame_pool": 1, "max_frames": 0}

    def layer_indices(self, n_states: int) -> list[int]:
        """The hidden states to keep, as indices into the model's `n_states` states (embeddings = 0)."""
        if self.layers == "last":
            chosen = [self.layer]
        elif self.layers == "all":
            chosen = list(range(n_states))
        else:
            chosen = [int(part) for part in self.layers.split(",")]
        wrong = [i for i in chosen if not -n_states <= i < n_states]
        if wrong:
            raise FeatureConfigError(
                f"{self.model} has hidden states 0..{n_states - 1}; layer(s) {wrong} (--audio_layers {self.layers}, "
                f"--layer {self.layer}) are out of range"
            )
        return [i % n_states for i in chosen]

    def check(self, sample_rate: int) -> None:
        if self.layers not in LAYER_CHOICES and not re.fullmatch(r"-?\d+(,-?\d+)*", self.layers):
            raise FeatureConfigError(
                "audio layers must be last, all or comma-separated hidden-state indices (e.g. 4,8), "
                f"got {self.layers!r}"
            )
        if self.frame_pool < 1 or self.max_frames < 0:
            raise FeatureConfigError(
                f"frame_pool must be >= 1 and max_frames >= 0 (0 = no cap), got {self.frame_pool}, {self.max_frames}"
            )
        if self.pooling not in AUDIO_POOLINGS:
            raise FeatureConfigError(
                f"audio pooling must be one of {AUDIO_POOLINGS}, got {self.pooling!r} (speech encoders have no CLS)"
            )
        if self.max_audio_s <= 0:
            raise FeatureConfigError(f"max_audio_s must be positive, got {self.max_audio_s}")
        if not 0 < self.pad_to_s <= 30:
            raise FeatureConfigError(f"pad_to_s must be in (0, 30] seconds, got {self.pad_to_s}")


@dataclass(frozen=True)
class HashingSpec:
    """Feature hashing of lowercased word n-grams, no alternate sign, L2-normalised (stateless: no vocabulary)."""

    type: ClassVar[str] = "hashing"
    dim: int = 768
    ngram_range: tuple[int, int] = (1, 2)
    norm: str | None = "l2"

    def check(self) -> None:
        if self.dim <= 0:
            raise FeatureConfigError(f"text dim must be positive, got {self.dim}")
        low, high = self.ngram_range
        if not 1 <= low <= high:
            raise FeatureConfigError(f"ngram_range must be (low, high) with 1 <= low <= high, got {self.ngram_range}")
        if self.norm not in ("l1", "l2", None):
            raise FeatureConfigError(f"norm must be 'l1', 'l2' or null, got {self.norm!r}")


@dataclass(frozen=True)
class TextEncoderSpec:
    """A pretrained transformers text encoder, pooled over real tokens (mean, mean+std) or its first token."""

    type: ClassVar[str] = "text_encoder"
    model: str = "packaged:all-MiniLM-L6-v2"
    layer: int = -1
    pooling: str = "mean"
    max_tokens: int = 128
    frames: bool = False  # also keep the utterance's token states (written to the saved config only when set)
    OPTIONAL: ClassVar[dict[str, Any]] = {"frames": False}

    def check(self) -> None:
        if self.pooling not in TEXT_POOLINGS:
            raise FeatureConfigError(f"text pooling must be one of {TEXT_POOLINGS}, got {self.pooling!r}")
        if self.max_tokens < 2:
            raise FeatureConfigError(f"max_tokens must be at least 2, got {self.max_tokens}")


@dataclass(frozen=True)
class TextSpec:
    encoder: HashingSpec | TextEncoderSpec = field(default_factory=HashingSpec)
    include_speaker: bool = False
    context_window: int = 0  # previous utterances of the same dialogue, in their own block

    def check(self) -> None:
        self.encoder.check()
        if self.context_window < 0:
            raise FeatureConfigError(f"context_window must be >= 0, got {self.context_window}")


@dataclass(frozen=True)
class FaceVideoSpec:
    """Frames sampled at `fps`, the face found and cropped, embedded; mean+std over frames with a face."""

    type: ClassVar[str] = "face"
    encoder: str = "packaged:efficientnet-lite0"
    detector: str = "packaged:face_landmarker"
    fps: float = 2.0
    max_frames: int = 32
    crop_size: int = 224
    margin: float = 0.25
    blendshapes: bool = True  # append MediaPipe's 52 expression blendshape scores to each frame's embedding
    min_face_confidence: float = 0.5

    def check(self) -> None:
        if self.fps <= 0 or self.max_frames <= 0 or self.crop_size < 16:
            raise FeatureConfigError("video fps and max_frames must be positive and crop_size at least 16")
        if not 0 <= self.margin <= 1 or not 0 < self.min_face_confidence < 1:
            raise FeatureConfigError("video margin must be in [0, 1] and min_face_confidence in (0, 1)")


AudioPart = MfccSpec | EgemapsSpec | SpeechEncoderSpec
AUDIO_PARTS: dict[str, type] = {cls.type: cls for cls in (MfccSpec, EgemapsSpec, SpeechEncoderSpec)}
TEXT_ENCODERS: dict[str, type] = {cls.type: cls for cls in (HashingSpec, TextEncoderSpec)}


@dataclass(frozen=True)
class FeatureConfig:
    audio: tuple[AudioPart, ...] = (MfccSpec(),)  # () = no audio features
    text: TextSpec | None = field(default_factory=TextSpec)  # None = no text features
    video: FaceVideoSpec | None = None
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        if not self.audio and self.text is None and self.video is None:
            raise FeatureConfigError("every modality is off (no audio part, no text, no video): nothing to extract")
        kinds = [part.type for part in self.audio]
        if "speech_encoder" in kinds and len(kinds) > 1:
            raise FeatureConfigError(f"a speech encoder cannot be combined with other audio parts, got {kinds}")
        if len(set(kinds)) != len(kinds):
            raise FeatureConfigError(f"audio parts repeat: {kinds}")
        if self.sample_rate <= 0:
            raise FeatureConfigError(f"sample_rate must be positive, got {self.sample_rate}")
        for part in self.audio:
            part.check(self.sample_rate)
        if self.text is not None:
            self.text.check()
        if self.video is not None:
            self.video.check()

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "sample_rate": self.sample_rate,
            "audio": [_tagged(part) for part in self.audio],
            "text": None
            if self.text is None
            else {
                "encoder": _tagged(self.text.encoder),
                "include_speaker": self.text.include_speaker,
                "context_window": self.text.context_window,
            },
            "video": None if self.video is None else _tagged(self.video),
        }

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities this config extracts, in the canonical audio, text, video order."""
        present = {"audio": bool(self.audio), "text": self.text is not None, "video": self.video is not None}
        return tuple(m for m, on in present.items() if on)

    @property
    def hash(self) -> str:
        return config_hash(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        """Rebuild a config saved by `to_dict` (e.g. `feature_info.json["config"]`); unknown keys are errors."""
        data = dict(data)
        version = data.pop("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise FeatureConfigError(f"feature config format_version {version} is not supported (this is v1)")
        _no_unknown(data, {"sample_rate", "audio", "text", "video"}, "feature config")
        text = None if "text" in data and data["text"] is None else dict(data.get("text") or {})
        if text is not None:
            _no_unknown(text, {"encoder", "include_speaker", "context_window"}, "text")
        audio = [dict(part) for part in data.get("audio", [{"type": "mfcc"}])]
        for part in audio:  # configs saved before pad_to_s existed were made with the 30 s padded call
            if part.get("type") == SpeechEncoderSpec.type:
                part.setdefault("pad_to_s", 30.0)
        return cls(
            audio=tuple(_untagged(part, AUDIO_PARTS, "audio") for part in audio),
            text=None
            if text is None
            else TextSpec(
                encoder=_untagged(text.get("encoder", {"type": "hashing"}), TEXT_ENCODERS, "text encoder"),
                include_speaker=bool(text.get("include_speaker", False)),
                context_window=int(text.get("context_window", 0)),
            ),
            video=None if data.get("video") is None else _untagged(data["video"], {"face": FaceVideoSpec}, "video"),
            sample_rate=int(data.get("sample_rate", 16000)),
        )


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a config dict (key order and whitespace do not matter)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _tagged(spec: Any) -> dict[str, Any]:
    values = asdict(spec)
    for key, default in getattr(spec, "OPTIONAL", {}).items():  # fields added after v1: only when set
        if values[key] == default:
            del values[key]
    return {"type": spec.type, **{k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}}


def _untagged(data: dict[str, Any], kinds: dict[str, type], what: str) -> Any:
    data = dict(data)
    kind = data.pop("type", None)
    if kind not in kinds:
        raise FeatureConfigError(f"{what} type must be one of {sorted(kinds)}, got {kind!r}")
    cls = kinds[kind]
    _no_unknown(data, {f.name for f in fields(cls)}, f"{what} {kind!r}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _no_unknown(data: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise FeatureConfigError(f"{what}: unknown keys {unknown} (allowed: {sorted(allowed)})")
