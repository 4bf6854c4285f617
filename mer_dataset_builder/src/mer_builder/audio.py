"""Decoding, downmixing and resampling: the single audio path of the project.

wav/flac/ogg/mp3 are read with libsndfile (it copes with the extra RIFF chunks and
stereo files of RAVDESS); containers libsndfile cannot read (m4a, mp4, flv, ...) are
decoded with PyAV, which ships its own FFmpeg, so no system ffmpeg is needed.
Resampling uses soxr. The training side and `predict.py` load user media through here
too, so training-time and prediction-time audio are identical.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import InputError
from .fsutil import atomic_write_bytes

TARGET_SR = 16000
SOUNDFILE_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"})
CONTAINER_SUFFIXES = frozenset({".m4a", ".mp4", ".flv", ".mov", ".mkv", ".webm", ".avi", ".aac"})
MEDIA_SUFFIXES = SOUNDFILE_SUFFIXES | CONTAINER_SUFFIXES


class AudioDecodeError(InputError):
    """A media file that cannot be turned into audio samples; the message names the file."""


def _check_wav_data_complete(path: Path) -> None:
    """Raise if a RIFF/WAVE file's data chunk is cut short: libsndfile would quietly return the part that is there.

    A download or copy interrupted mid-file leaves exactly that, so it must be an error naming the
    file, not a shorter utterance. Sizes 0 and 0xFFFFFFFF mean "unknown" (streamed writers) and pass.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return  # not RIFF/WAVE (RF64, W64, FLAC in disguise...): libsndfile judges it
        order = "little" if head[:4] == b"RIFF" else "big"
        position = 12
        while position + 8 <= size:
            handle.seek(position)
            chunk = handle.read(8)
            declared = int.from_bytes(chunk[4:], order)
            if chunk[:4] == b"data":
                available = size - position - 8
                if declared not in (0, 0xFFFFFFFF) and declared > available:
                    raise AudioDecodeError(
                        f"{path}: truncated: the data chunk declares {declared} bytes but the file holds {available}"
                    )
                return
            position += 8 + declared + (declared & 1)


def _read_with_soundfile(path: Path) -> tuple[np.ndarray, int]:
    with sf.SoundFile(str(path)) as handle:
        if handle.subtype == "PCM_16":
            # libsndfile's own int16 -> float conversion is a scalar loop three times slower than numpy's;
            # the scale is the same (1/32768), so the samples are identical.
            data = handle.read(dtype="int16", always_2d=True).astype(np.float32) * np.float32(1 / 32768)
        else:
            data = handle.read(dtype="float32", always_2d=True)
        sr = handle.samplerate
    return data.mean(axis=1) if data.shape[1] > 1 else data[:, 0], sr


def _read_with_av(path: Path) -> tuple[np.ndarray, int]:
    import av

    with av.open(str(path)) as container:
        streams = container.streams.audio
        if not streams:
            raise AudioDecodeError(f"{path}: the container has no audio stream")
        stream = streams[0]
        # Let FFmpeg's resampler hand back planar float32 mono at the native rate; soxr does the rate change.
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=stream.rate)
        chunks = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray()[0])
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray()[0])
        sr = stream.rate
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    return samples, sr


def load_audio(path: Path | str, target_sr: int | None = TARGET_SR) -> tuple[np.ndarray, int]:
    """Decode any supported media file to mono float32 at `target_sr` (None keeps the native rate).

    Raises AudioDecodeError naming the file for missing, empty, truncated or non-audio input.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{path}: file is empty (0 bytes)")
    suffix = path.suffix.lower()
    try:
        if suffix in SOUNDFILE_SUFFIXES:
            if suffix == ".wav":
                _check_wav_data_complete(path)
            try:
                samples, sr = _read_with_soundfile(path)
            except sf.LibsndfileError:
                if suffix != ".mp3":
                    raise
                samples, sr = _read_with_av(path)
        else:
            samples, sr = _read_with_av(path)
    except AudioDecodeError:
        raise
    except Exception as exc:  # libsndfile and FFmpeg raise many types; all mean "cannot decode this file"
        raise AudioDecodeError(f"{path}: cannot decode audio ({type(exc).__name__}: {exc})") from exc
    return conform_samples(samples, sr, target_sr, str(path)), target_sr or sr


def conform_samples(
    samples: np.ndarray, sr: int, target_sr: int | None = TARGET_SR, source: str = "samples"
) -> np.ndarray:
    """Mono float32 at `target_sr` (None keeps `sr`) from decoded or in-memory samples, (n,) or (n, channels).

    Raises AudioDecodeError naming `source` for empty, non-finite or wrongly shaped samples.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)
    elif samples.ndim != 1:
        raise AudioDecodeError(f"{source}: expected samples shaped (n,) or (n, channels), got {samples.shape}")
    if samples.size == 0:
        raise AudioDecodeError(f"{source}: decoded to zero samples")
    if not np.all(np.isfinite(samples)):
        raise AudioDecodeError(f"{source}: decoded samples contain NaN or inf")
    if not isinstance(sr, int | np.integer) or sr <= 0:
        raise AudioDecodeError(f"{source}: expected a positive integer sample rate, got {sr!r}")
    if target_sr is not None and sr != target_sr:
        resampled = soxr.resample(samples, sr, target_sr, quality="HQ").astype(np.float32, copy=False)
        if resampled.size == 0:  # shorter than one output sample: nothing of it survives the rate change
            raise AudioDecodeError(
                f"{source}: too short: {samples.size} sample{'s' * (samples.size != 1)} at {sr} Hz "
                f"is less than one sample at {target_sr} Hz"
            )
        samples = resampled
    return samples


def riff_chunk(chunk_id: bytes, payload: bytes) -> bytes:
    """One RIFF chunk: four-byte id, little-endian size, payload, and a pad byte when the size is odd."""
    if len(chunk_id) != 4:
        raise ValueError(f"a RIFF chunk id has four bytes, got {chunk_id!r}")
    return chunk_id + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")


def wav_bytes(
    samples: np.ndarray, sr: int = TARGET_SR, chunks_before_data: Sequence[tuple[bytes, bytes]] = ()
) -> bytes:
    """A complete 16-bit PCM WAV file in memory; `samples` is (n,) mono or (n, channels), clipped to [-1, 1].

    Built here rather than through libsndfile because its many small writes and seeks cost more
    than decoding and resampling a clip: one contiguous write halves the builder's per-file time.
    `chunks_before_data` ((id, payload) pairs) lets the demo reproduce the extra chunks real corpora carry.
    """
    frames = np.asarray(samples, dtype=np.float32)
    frames = frames[:, None] if frames.ndim == 1 else frames
    channels = frames.shape[1]
    pcm = np.round(np.clip(frames, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, channels, sr, sr * channels * 2, channels * 2, 16)
    body = b"WAVE" + riff_chunk(b"fmt ", fmt) + b"".join(riff_chunk(*chunk) for chunk in chunks_before_data)
    body += riff_chunk(b"data", pcm)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def write_wav(path: Path, samples: np.ndarray, sr: int = TARGET_SR) -> None:
    """Write 16-bit PCM mono atomically."""
    atomic_write_bytes(path, wav_bytes(samples, sr))
