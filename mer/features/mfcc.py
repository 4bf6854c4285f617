"""MFCC mean+std summaries for many clips at once, numerically matching librosa's MFCC.

librosa computes one file at a time through several layers of generic code. Here each clip's
frames go through one real FFT, one mel matrix product and one DCT matrix product (float32,
scipy's pocketfft), with no per-call overhead beyond that. Same maths as `librosa.feature.mfcc`
with its defaults: periodic Hann window, centred zero-padded frames, power spectrum, Slaney mel
filters with Slaney area normalisation, `power_to_db(ref=1, amin=1e-10, top_db)`, DCT-II
with orthonormal scaling.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft
from threadpoolctl import threadpool_limits

from .config import MfccSpec

_AMIN = 1e-10


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear up to 1 kHz (15 mel there), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) / log_step, linear)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * (200.0 / 3))


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular Slaney-normalised filters, shape (n_mels, n_fft // 2 + 1), float32."""
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges_hz)
    distance = edges_hz[:, None] - fft_hz[None, :]  # (n_mels + 2, n_freq)
    rising = -distance[:-2] / widths[:-1, None]
    falling = distance[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]  # equal area per filter
    return weights.astype(np.float32)


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II as a (n_in, n_out) matrix: `x @ D` equals `scipy.fft.dct(x, norm='ortho')[:n_out]`."""
    n = np.arange(n_in)[:, None]
    k = np.arange(n_out)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[:, 0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


class MfccExtractor:
    """Batched MFCC; `summaries(waveforms)` gives one `[mean, std]` row of 2 * n_mfcc values per clip."""

    def __init__(self, spec: MfccSpec, sample_rate: int):
        spec.check(sample_rate)
        self.spec, self.sample_rate = spec, sample_rate
        self.dim = 2 * spec.n_mfcc
        fmax = sample_rate / 2 if spec.fmax is None else spec.fmax
        n = np.arange(spec.n_fft)
        self._window = (0.5 - 0.5 * np.cos(2 * np.pi * n / spec.n_fft)).astype(np.float32)  # periodic Hann
        self._mel_t = np.ascontiguousarray(mel_filterbank(sample_rate, spec.n_fft, spec.n_mels, spec.fmin, fmax).T)
        self._dct = dct_matrix(spec.n_mels, spec.n_mfcc)

    def __call__(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        return self.summaries(waveforms)

    def n_frames(self, n_samples: int) -> int:
        return 1 + n_samples // self.spec.hop_length

    def frame_mfcc(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Frame-level MFCCs, one (n_frames, n_mfcc) array per clip.

        Features must be the same bytes whatever batch, backend or `--num_workers` produced them. BLAS
        rounds a row of a product differently depending on where it sits in the matrix (seen with
        OpenBLAS on AMD CPUs) and on its thread count, so each clip's FFT and products run on its own
        frames only, on one BLAS thread; parallelism comes from the workers instead.
        """
        with threadpool_limits(limits=1, user_api="blas"):
            return [self._clip_mfcc(waveform) for waveform in waveforms]

    def _clip_mfcc(self, waveform: np.ndarray) -> np.ndarray:
        pad, n_fft, hop = self.spec.n_fft // 2, self.spec.n_fft, self.spec.hop_length
        padded = np.pad(np.asarray(waveform, dtype=np.float32), (pad, pad))
        frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][: self.n_frames(len(waveform))]
        spectrum = scipy.fft.rfft(frames * self._window, axis=1)
        log_mel = 10.0 * np.log10(np.maximum((np.abs(spectrum) ** 2) @ self._mel_t, _AMIN))
        if self.spec.top_db is not None:  # librosa's dB floor is relative to the clip's own peak
            log_mel = np.maximum(log_mel, log_mel.max() - self.spec.top_db)
        return log_mel @ self._dct

    def summaries(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        if len(waveforms) == 0:
            return np.zeros((0, self.dim), np.float32)
        rows = [np.concatenate([m.mean(axis=0), m.std(axis=0)]) for m in self.frame_mfcc(waveforms)]
        return np.stack(rows).astype(np.float32, copy=False)
