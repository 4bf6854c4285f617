"""Synthetic 'speech': voiced harmonic syllables whose pitch, energy and tempo depend on the emotion.

Not speech, but it has what emotion features measure (F0 level and contour, loudness,
syllable rate, spectral tilt), so a model trained on the demo corpus learns something real
and the whole pipeline can be exercised with no download.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prosody:
    f0_hz: float  # mean fundamental for a neutral-pitched speaker
    energy: float  # peak amplitude, 0..1
    syllables_per_s: float
    contour: float  # F0 change across the utterance, in octaves (rising > 0)
    brightness: float  # harmonic roll-off: higher keeps more upper harmonics
    tremolo_hz: float  # amplitude modulation rate (0 = none)


PROSODY: dict[str, Prosody] = {
    "anger": Prosody(210.0, 0.85, 6.0, -0.2, 0.9, 0.0),
    "disgust": Prosody(135.0, 0.45, 3.0, -0.3, 0.5, 0.0),
    "fear": Prosody(265.0, 0.35, 7.0, 0.1, 0.6, 9.0),
    "joy": Prosody(240.0, 0.70, 5.0, 0.3, 0.8, 0.0),
    "neutral": Prosody(160.0, 0.40, 4.0, 0.0, 0.55, 0.0),
    "sadness": Prosody(120.0, 0.22, 2.5, -0.4, 0.3, 0.0),
    "surprise": Prosody(290.0, 0.60, 4.5, 0.8, 0.75, 0.0),
}


def synth_utterance(
    emotion: str | None,
    rng: np.random.Generator,
    sr: int = 16000,
    duration_s: float | None = None,
    pitch_factor: float = 1.0,
) -> np.ndarray:
    """A mono float32 clip for `emotion` (None, a label outside the space: neutral prosody); `pitch_factor`
    shifts the speaker's register (male < 1 < female)."""
    p = PROSODY[emotion or "neutral"]
    duration = duration_s if duration_s is not None else float(rng.uniform(1.2, 2.6))
    n = round(duration * sr)
    t = np.arange(n) / sr
    f0 = p.f0_hz * pitch_factor * rng.uniform(0.93, 1.07)
    contour = f0 * 2.0 ** (p.contour * (t / max(duration, 1e-6) - 0.5))
    phase = 2 * np.pi * np.cumsum(contour * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))) / sr
    harmonics = sum((p.brightness**k) * np.sin(k * phase) for k in range(1, 9))
    # Syllable envelope: raised-cosine bumps at the emotion's rate, with small gaps between them.
    rate = p.syllables_per_s * rng.uniform(0.9, 1.1)
    syllable_phase = (t * rate) % 1.0
    envelope = np.where(syllable_phase < 0.8, np.sin(np.pi * syllable_phase / 0.8) ** 2, 0.0)
    if p.tremolo_hz:
        envelope *= 1 - 0.4 * (0.5 + 0.5 * np.sin(2 * np.pi * p.tremolo_hz * t))
    signal = harmonics * envelope
    signal = p.energy * signal / (np.abs(signal).max() + 1e-9)
    signal += 0.004 * rng.standard_normal(n)
    return signal.astype(np.float32)
