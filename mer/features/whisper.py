"""Whisper encoder frames at each clip's own length, batched: no 30-second padding.

Whisper's encoder was trained on 30 s log-mel windows, and the usual call pads every clip to
30 s with silence: a 3.5 s clip then costs as much as a 30 s one. The CTranslate2 encoder also
accepts shorter inputs, so here each clip is encoded at about its own length: its samples are
padded with silence (zeros, as Whisper pads) up to the next multiple of `pad_to_s` seconds,
and clips that end up the same length go through the encoder together in one batch. A clip's
frames therefore depend on that clip alone (never on its batch mates), and only the frames
that cover its real samples are returned: 50 frames per second, `ceil(samples / 320)` of them.

The frames are close to, not equal to, those of the padded call, because every frame attends
to the whole input (in the padded call also to 30 s minus the clip of silence). On the 416
real RAVDESS clips of actors 01-08 (3-5 s) the per-frame cosine similarity with the padded
call averages 0.96 with the default 1 s quantum (0.95 with no padding at all, where the last
tenth of a clip drops to 0.80); the frames that differ most are the silent tail. How this
shows downstream is measured in `bench/bench_pretrained.py` (BENCHMARKS.md). `pad_to_s=30`
gives the padded call exactly, for comparison.

Clips longer than `window_s` (at most 30 s, Whisper's positional range) are cut into
consecutive windows, each encoded the same way; their frames are concatenated in order.

    frames = whisper_frames(waveforms)                      # list of (T_i, 384) float32 arrays
    encoder = load_whisper_frames("packaged:whisper-tiny.en", device="cpu", compute_type="int8")
    frames = encoder(waveforms, batch_size=16)              # the same, with the model kept
"""

from __future__ import annotations

import functools
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

WHISPER_WINDOW_S = 30.0  # the encoder's positional embeddings cover 30 s (1,500 frames)
WHISPER_SAMPLE_RATE = 16000
HOP_SAMPLES = 160  # one log-mel frame
FRAME_SAMPLES = 320  # one encoder frame (the second convolution has stride 2): 50 frames/s
FRAMES_PER_S = WHISPER_SAMPLE_RATE // FRAME_SAMPLES
DEFAULT_PAD_TO_S = 1.0


def frame_count(samples: int) -> int:
    """Encoder frames that cover `samples` samples at 16 kHz (at least one)."""
    return max(1, math.ceil(samples / FRAME_SAMPLES))


class WhisperFrameEncoder:
    """The encoder of a CTranslate2 Whisper model: waveforms in, per-clip frame arrays (T_i, dim) out."""

    def __init__(
        self,
        path: str,
        device: str = "cpu",
        compute_type: str = "int8",
        threads: int = 0,
        pad_to_s: float = DEFAULT_PAD_TO_S,
        window_s: float = WHISPER_WINDOW_S,
    ):
        import ctranslate2
        from faster_whisper.feature_extractor import FeatureExtractor

        if not 0 < pad_to_s <= WHISPER_WINDOW_S:
            raise ValueError(f"pad_to_s must be in (0, {WHISPER_WINDOW_S:g}] seconds, got {pad_to_s}")
        if not 0 < window_s <= WHISPER_WINDOW_S:
            raise ValueError(f"window_s must be in (0, {WHISPER_WINDOW_S:g}] seconds, got {window_s}")
        preprocessor = Path(path) / "preprocessor_config.json"  # large-v3 exports have 128 mels; older ones 80
        n_mels = json.loads(preprocessor.read_text(encoding="utf-8"))["feature_size"] if preprocessor.is_file() else 80
        kind, _, index = device.partition(":")
        if threads <= 0:
            import torch

            threads = torch.get_num_threads()
        self.model = ctranslate2.models.Whisper(
            path, device=kind, device_index=int(index or 0), compute_type=compute_type, intra_threads=threads
        )
        self.features = FeatureExtractor(feature_size=n_mels)
        self.sample_rate = WHISPER_SAMPLE_RATE
        self.quantum = max(FRAME_SAMPLES, round(pad_to_s * self.sample_rate / FRAME_SAMPLES) * FRAME_SAMPLES)
        self.window = int(window_s * self.sample_rate) // FRAME_SAMPLES * FRAME_SAMPLES
        self.dim = int(self._encode(np.zeros((1, n_mels, 2 * self.quantum // FRAME_SAMPLES), np.float32)).shape[-1])

    def _encode(self, log_mels: np.ndarray) -> np.ndarray:
        import ctranslate2

        view = ctranslate2.StorageView.from_array(np.ascontiguousarray(log_mels, dtype=np.float32))
        return np.asarray(self.model.encode(view, to_cpu=True), dtype=np.float32)

    def padded_length(self, samples: int) -> int:
        """The input length a window of `samples` samples is encoded at: the next multiple of the quantum."""
        return min(max(self.quantum, math.ceil(samples / self.quantum) * self.quantum), self.features.n_samples)

    def _log_mel(self, window: np.ndarray, length: int) -> np.ndarray:
        """Whisper's log-mel of the window padded with zeros to `length` samples: (n_mels, length / 160)."""
        return self.features(window, padding=length - len(window))[:, : length // HOP_SAMPLES]

    def windows(self, waveform: np.ndarray) -> list[np.ndarray]:
        """Consecutive windows of at most `window_s`; an empty clip is one window of a single zero sample."""
        if len(waveform) == 0:
            return [np.zeros(1, np.float32)]
        return [waveform[start : start + self.window] for start in range(0, len(waveform), self.window)]

    def __call__(self, waveforms: Sequence[np.ndarray], batch_size: int = 16) -> list[np.ndarray]:
        """Per clip, the encoder frames covering its samples: float32 (ceil(samples / 320), dim).

        `waveforms` are mono float32 arrays at 16 kHz. Windows of the same padded length are
        encoded together, up to `batch_size` at a time.
        """
        owners: list[int] = []
        pieces: list[np.ndarray] = []
        for clip, waveform in enumerate(waveforms):
            for window in self.windows(np.asarray(waveform, dtype=np.float32).reshape(-1)):
                owners.append(clip)
                pieces.append(window)
        by_length: dict[int, list[int]] = defaultdict(list)
        for i, piece in enumerate(pieces):
            by_length[self.padded_length(len(piece))].append(i)
        encoded: list[np.ndarray] = [np.empty(0)] * len(pieces)
        for length, members in sorted(by_length.items()):
            for start in range(0, len(members), max(1, batch_size)):
                batch = members[start : start + max(1, batch_size)]
                hidden = self._encode(np.stack([self._log_mel(pieces[i], length) for i in batch]))
                for row, i in enumerate(batch):
                    encoded[i] = hidden[row, : frame_count(len(pieces[i]))]
        frames: list[list[np.ndarray]] = [[] for _ in waveforms]
        for clip, piece_frames in zip(owners, encoded, strict=True):
            frames[clip].append(piece_frames)
        return [np.concatenate(parts) if len(parts) > 1 else parts[0] for parts in frames]


@functools.lru_cache(maxsize=4)
def load_whisper_frames(
    model: str = "packaged:whisper-tiny.en",
    device: str = "cpu",
    compute_type: str = "int8",
    threads: int = 0,
    pad_to_s: float = DEFAULT_PAD_TO_S,
) -> WhisperFrameEncoder:
    """A Whisper frame encoder from `packaged:<name>` or a CTranslate2 model folder, loaded once per process."""
    from .hf import model_source
    from .packaged import ModelNotAvailableError

    source = model_source(model)
    if not (Path(source) / "model.bin").is_file():
        raise ModelNotAvailableError(f"{model}: expected a CTranslate2 Whisper model folder (with model.bin)")
    return WhisperFrameEncoder(source, device, compute_type, threads, pad_to_s)


def whisper_frames(
    waveforms: Sequence[np.ndarray],
    model: str = "packaged:whisper-tiny.en",
    *,
    device: str = "cpu",
    compute_type: str = "int8",
    batch_size: int = 16,
    pad_to_s: float = DEFAULT_PAD_TO_S,
) -> list[np.ndarray]:
    """Frozen Whisper encoder frames of each 16 kHz mono clip at its own length: a list of (T_i, dim) float32.

    T_i = ceil(len(waveforms[i]) / 320) (50 frames per second); dim = 384 for tiny.en. The model
    is loaded on first use and kept (see `load_whisper_frames`).
    """
    return load_whisper_frames(model, device, compute_type, 0, pad_to_s)(waveforms, batch_size)
