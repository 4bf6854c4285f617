"""Real media containers for the demo corpora, written with PyAV (no system ffmpeg).

MELD ships mp4 clips, MEAD m4a audio and front-camera mp4 video; the demo writes the
same containers so the builder's decoding path (`mer_builder.audio.load_audio`) and any
face-video extractor see exactly what they would see on the real corpora.

The video is a drawn cartoon face: its brows, eyes and mouth shape follow the emotion
and its mouth opens with the loudness of the audio, so a video model has something
real (if simple) to learn. Public API, kept small and stable for every demo writer:

* `write_mp4(path, audio, sr, *, fps=25, size=(112, 112), expression=None, channels=1, duration_s=None)`:
  H.264 video (yuv420p) plus an AAC audio track; `audio=None` writes a video-only file
  `duration_s` long (otherwise the video lasts as long as the audio).
  The container follows the suffix (`.mp4`, `.m4v`, `.mov`, `.mkv`, `.flv`).
* `write_m4a(path, audio, sr, *, channels=1)`: AAC audio in an MPEG-4 container.
* `face_frames(n_frames, size, loudness, expression)`: the frames themselves (uint8 RGB).

Writes are atomic: a crash never leaves a half-written container under the final name.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import av
import numpy as np

from ..fsutil import atomic_output

# FFmpeg muxer per suffix: the temporary file ends in `.tmp`, so the format cannot be guessed from the name.
CONTAINER_FORMATS: dict[str, str] = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".m4a": "ipod",
    ".mov": "mov",
    ".mkv": "matroska",
    ".flv": "flv",
    ".avi": "avi",
}
AAC_FRAME = 1024  # samples per AAC frame
VIDEO_CODECS: tuple[str, ...] = ("libx264", "mpeg4")  # H.264 when this FFmpeg build has it


@dataclass(frozen=True)
class Expression:
    brow_tilt: float  # inner brow end height relative to the outer end (+ raised inner = sad/fearful)
    brow_lift: float  # both brows up (+) or down (-), in face heights
    eye_open: float  # eye height scale
    mouth_curve: float  # + smile, - frown
    mouth_open: float  # baseline opening before loudness is added


EXPRESSIONS: dict[str, Expression] = {
    "anger": Expression(-0.06, -0.03, 0.7, -0.25, 0.05),
    "disgust": Expression(-0.03, -0.01, 0.6, -0.35, 0.0),
    "fear": Expression(0.05, 0.05, 1.4, -0.1, 0.25),
    "joy": Expression(0.0, 0.02, 0.9, 0.5, 0.1),
    "neutral": Expression(0.0, 0.0, 1.0, 0.0, 0.0),
    "sadness": Expression(0.06, 0.0, 0.8, -0.45, 0.0),
    "surprise": Expression(0.0, 0.08, 1.5, 0.0, 0.45),
}


def _container_format(path: Path) -> str:
    try:
        return CONTAINER_FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"{path}: unsupported container suffix; use one of {sorted(CONTAINER_FORMATS)}") from None


def _as_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """(channels, n) float32; extra channels are attenuated copies so a downmix is not trivially the input."""
    mono = np.asarray(audio, dtype=np.float32).reshape(-1)
    gains = np.linspace(1.0, 0.6, channels, dtype=np.float32)
    return np.ascontiguousarray(np.clip(gains[:, None] * mono[None, :], -1.0, 1.0))


def _frame_loudness(audio: np.ndarray | None, sr: int, n_frames: int) -> np.ndarray:
    """RMS of the audio under each video frame, scaled to 0..1."""
    if audio is None or len(audio) == 0:
        return np.zeros(n_frames, dtype=np.float32)
    edges = np.linspace(0, len(audio), n_frames + 1).astype(int)
    rms = np.array([np.sqrt(np.mean(np.square(audio[a:b]))) if b > a else 0.0 for a, b in pairwise(edges)])
    return (rms / (rms.max() + 1e-9)).astype(np.float32)


def face_frames(n_frames: int, size: tuple[int, int], loudness: np.ndarray, expression: str | None) -> np.ndarray:
    """(n_frames, height, width, 3) uint8 frames of a cartoon face; `size` is (width, height)."""
    width, height = size
    shape = EXPRESSIONS[expression or "neutral"]
    # Normalised coordinates (origin top-left), broadcast over frames: every mask below is (n, height, width).
    y = (np.arange(height, dtype=np.float32) / height)[None, :, None]
    x = (np.arange(width, dtype=np.float32) / width)[None, None, :]
    frame = np.arange(n_frames, dtype=np.float32)[:, None, None]
    cx, cy = 0.5 + 0.02 * np.sin(2 * np.pi * frame / 40), 0.5  # a slow head sway so consecutive frames differ
    level = np.asarray(loudness, dtype=np.float32).reshape(-1)[:n_frames, None, None]
    layers = [(((x - cx) / 0.33) ** 2 + ((y - cy) / 0.42) ** 2 <= 1, (224, 184, 150))]  # head
    for side in (-1, 1):
        ex, ey = cx + side * 0.13, cy - 0.1
        layers.append((((x - ex) / 0.06) ** 2 + ((y - ey) / (0.03 * shape.eye_open)) ** 2 <= 1, (30, 30, 40)))
        # Brow: a short thick line above the eye; its inner end (toward the nose) moves by brow_tilt.
        t = np.clip((x - ex) * side / 0.08, -1, 1)  # -1 inner end, +1 outer end
        brow_y = ey - 0.08 - shape.brow_lift - shape.brow_tilt * (1 - t) / 2
        layers.append(((np.abs(x - ex) <= 0.08) & (np.abs(y - brow_y) <= 0.012), (70, 45, 30)))
    # Mouth: a parabola (smile or frown) opened into a band by the expression and the audio loudness.
    u = (x - cx) / 0.14
    centre = cy + 0.2 + shape.mouth_curve * 0.06 * (1 - u**2)
    half_open = 0.012 + 0.05 * (shape.mouth_open + 0.6 * level) * np.sqrt(np.clip(1 - u**2, 0, 1))
    layers.append(((np.abs(u) <= 1) & (np.abs(y - centre) <= half_open), (120, 30, 40)))
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    frames[:] = (60, 70, 90)  # background
    for mask, colour in layers:
        frames[np.broadcast_to(mask, (n_frames, height, width))] = colour
    return frames


def _add_audio_stream(container: av.container.OutputContainer, sr: int, channels: int) -> av.AudioStream:
    layout = {1: "mono", 2: "stereo"}.get(channels)
    if layout is None:
        raise ValueError(f"channels must be 1 or 2, got {channels}")
    stream = container.add_stream("aac", rate=sr, layout=layout)
    stream.bit_rate = 64000 * channels
    stream.options = {"aac_coder": "fast"}  # a third of the default coder's time, and the demo needs no more
    return stream


def _encode_audio(
    container: av.container.OutputContainer, stream: av.AudioStream, audio: np.ndarray, sr: int, channels: int
) -> None:
    planar = _as_channels(audio, channels)
    for start in range(0, planar.shape[1], AAC_FRAME):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(planar[:, start : start + AAC_FRAME]), format="fltp", layout=stream.layout.name
        )
        frame.sample_rate = sr
        frame.pts = start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def _add_video_stream(container: av.container.OutputContainer, fps: int, size: tuple[int, int]) -> av.VideoStream:
    width, height = size
    if width % 2 or height % 2:
        raise ValueError(f"video size must be even for yuv420p, got {size}")
    for codec in VIDEO_CODECS:
        if codec in av.codecs_available:
            stream = container.add_stream(codec, rate=fps)
            break
    else:
        raise RuntimeError(f"this PyAV build has none of the video encoders {VIDEO_CODECS}")
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    if stream.codec_context.name == "libx264":
        stream.options = {"preset": "ultrafast", "crf": "28"}
    return stream


def write_mp4(
    path: Path | str,
    audio: np.ndarray | None,
    sr: int = 48000,
    *,
    fps: int = 25,
    size: tuple[int, int] = (112, 112),
    expression: str | None = None,
    channels: int = 1,
    duration_s: float | None = None,
) -> None:
    """A video file as long as `duration_s`, else as the audio; `audio=None` writes video only."""
    path = Path(path)
    fmt = _container_format(path)
    if duration_s is None and audio is None:
        raise ValueError(f"{path}: a video-only file needs duration_s")
    duration = duration_s if duration_s is not None else len(audio) / sr
    n_frames = max(1, round(duration * fps))
    frames = face_frames(n_frames, size, _frame_loudness(audio, sr, n_frames), expression)
    with atomic_output(path) as tmp, av.open(str(tmp), "w", format=fmt) as container:
        video = _add_video_stream(container, fps, size)
        sound = _add_audio_stream(container, sr, channels) if audio is not None else None
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            _encode_audio(container, sound, audio, sr, channels)


def write_m4a(path: Path | str, audio: np.ndarray, sr: int = 48000, *, channels: int = 1) -> None:
    """AAC audio in an MPEG-4 audio container, as MEAD ships its speech."""
    path = Path(path)
    fmt = _container_format(path)
    with atomic_output(path) as tmp, av.open(str(tmp), "w", format=fmt) as container:
        _encode_audio(container, _add_audio_stream(container, sr, channels), audio, sr, channels)
