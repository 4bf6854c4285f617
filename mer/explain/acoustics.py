"""Acoustic cues of a recording in plain units, and their statistics over a reference set of recordings.

The cues are the ones listeners and the affective-computing literature use to describe how
something was said (eGeMAPS has all of them), measured here with numpy alone so that they run on
any recording in milliseconds:

    pitch_level    semitones above 27.5 Hz   median F0 of the voiced frames (12 st = one octave)
    pitch_range    semitones                 10th to 90th percentile of F0 over the voiced frames
    loudness       dBFS                      mean power of the speech frames relative to full scale
    speaking_rate  syllables/s               voiced intensity peaks (syllable nuclei) per second of speech
    hnr            dB                        harmonics-to-noise ratio of the voiced frames (breathy or
                                             rough voices are lower, clear ones higher)

F0 and HNR come from the normalised autocorrelation of 40 ms frames every 10 ms (Boersma's
method: the window's own autocorrelation divided out), with the shortest lag within 10 % of the
best peak chosen, so an octave too low is not picked. A frame is voiced when its periodicity
(the autocorrelation peak) is at least 0.45 and it is within 30 dB of the loudest frame.

Loudness depends on the recording level as much as on the speaker, so it compares well only
between recordings made alike; the other cues do not depend on the level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

FRAME_S, HOP_S = 0.04, 0.01
F0_MIN, F0_MAX = 60.0, 600.0
VOICING_THRESHOLD = 0.45
SPEECH_RANGE_DB = 30.0  # frames quieter than the loudest by more than this are pauses
SILENCE_DBFS = -60.0
SEMITONE_REFERENCE_HZ = 27.5
PEAK_PROMINENCE_DB = 2.0
MIN_SYLLABLE_GAP_S = 0.06


@dataclass(frozen=True)
class Cue:
    name: str
    unit: str
    label: str  # how the card's table names it
    up: str  # how a value above the reference reads in the sentence ({x}: the difference, unsigned)
    down: str


CUES: dict[str, Cue] = {
    c.name: c
    for c in (
        Cue("pitch_level", "st", "pitch", "pitch {x} st higher", "pitch {x} st lower"),
        Cue("pitch_range", "st", "pitch range", "pitch range {x} st wider", "pitch range {x} st narrower"),
        Cue("loudness", "dB", "loudness", "{x} dB louder", "{x} dB quieter"),
        Cue("speaking_rate", "syll/s", "speaking rate", "{x} syllables/s faster", "{x} syllables/s slower"),
        Cue("hnr", "dB", "voice clarity (HNR)", "HNR {x} dB higher (a clearer voice)",
            "HNR {x} dB lower (a breathier or rougher voice)"),
    )
}  # fmt: skip


def _frames(waveform: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    length, hop = round(FRAME_S * sample_rate), round(HOP_S * sample_rate)
    padded = np.pad(np.asarray(waveform, np.float64), (length // 2, length // 2))
    if len(padded) < length:
        padded = np.pad(padded, (0, length - len(padded)))
    return np.lib.stride_tricks.sliding_window_view(padded, length)[::hop], hop


def _autocorrelation(frames: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of each Hann-windowed frame, with the window's own autocorrelation divided out."""
    length = frames.shape[1]
    window = np.hanning(length)
    size = 1 << int(np.ceil(np.log2(2 * length)))
    centred = (frames - frames.mean(axis=1, keepdims=True)) * window
    ac = np.fft.irfft(np.abs(np.fft.rfft(centred, size)) ** 2, size)[:, :length]
    wac = np.fft.irfft(np.abs(np.fft.rfft(window, size)) ** 2, size)[:length]
    energy = ac[:, :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (ac / np.where(energy > 0, energy, 1.0)) / (wac / wac[0])
    return np.nan_to_num(r)


def _pitch(r: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(F0 in Hz, periodicity) per frame from the autocorrelation: the shortest-lag peak within 10 % of the best."""
    low, high = int(sample_rate / F0_MAX), min(int(np.ceil(sample_rate / F0_MIN)), r.shape[1] - 2)
    band = r[:, low : high + 1]
    interior = (band[:, 1:-1] > band[:, :-2]) & (band[:, 1:-1] >= band[:, 2:])
    peaks = np.where(interior, band[:, 1:-1], -np.inf)
    best = peaks.max(axis=1)
    chosen = np.argmax(peaks >= 0.9 * best[:, None], axis=1) + 1  # the first (shortest) lag close to the best
    rows = np.arange(len(r))
    left, mid, right = band[rows, chosen - 1], band[rows, chosen], band[rows, chosen + 1]
    denominator = left - 2 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(denominator < 0, 0.5 * (left - right) / denominator, 0.0)
    lag = low + chosen + np.clip(offset, -0.5, 0.5)
    return sample_rate / lag, np.where(np.isfinite(best), best, 0.0)


def acoustic_cues(waveform: np.ndarray, sample_rate: int) -> dict[str, float | None]:
    """The cues of one mono recording (`CUES` names them), plus `speech_s` and `voiced_s`; a cue that cannot be
    measured (no voiced frame, no speech) is None."""
    frames, hop = _frames(waveform, sample_rate)
    power = np.mean(frames**2, axis=1)
    level = 10 * np.log10(power + 1e-12)
    speech = (level > level.max() - SPEECH_RANGE_DB) & (level > SILENCE_DBFS)
    f0, periodicity = _pitch(_autocorrelation(frames), sample_rate)
    voiced = speech & (periodicity >= VOICING_THRESHOLD)
    semitones = 12 * np.log2(f0 / SEMITONE_REFERENCE_HZ)
    if voiced.any():  # frames an octave or more away from the median are tracking errors, not intonation
        voiced &= np.abs(semitones - np.median(semitones[voiced])) < 12
    out: dict[str, float | None] = dict.fromkeys(CUES)
    out["speech_s"] = round(float(speech.sum() * hop / sample_rate), 3)
    out["voiced_s"] = round(float(voiced.sum() * hop / sample_rate), 3)
    if speech.any():
        out["loudness"] = float(10 * np.log10(power[speech].mean() + 1e-12))
    if voiced.sum() >= 3:
        pitch = semitones[voiced]
        out["pitch_level"] = float(np.median(pitch))
        out["pitch_range"] = float(np.percentile(pitch, 90) - np.percentile(pitch, 10))
        clear = np.clip(periodicity[voiced], 1e-6, 1 - 1e-6)
        out["hnr"] = float(np.median(10 * np.log10(clear / (1 - clear))))
        out["speaking_rate"] = _syllable_rate(level, voiced, speech, hop / sample_rate)
    return out


def _syllable_rate(level: np.ndarray, voiced: np.ndarray, speech: np.ndarray, hop_s: float) -> float:
    """Syllable nuclei per second of speech: intensity peaks that stand out by 2 dB, are voiced, and are at
    least 60 ms apart (de Jong and Wempe's idea, on the frame levels)."""
    from scipy.signal import find_peaks

    smooth = np.convolve(level, np.ones(3) / 3, mode="same")
    peaks, _ = find_peaks(smooth, prominence=PEAK_PROMINENCE_DB, distance=max(1, round(MIN_SYLLABLE_GAP_S / hop_s)))
    nuclei = int(voiced[peaks].sum())
    return float(nuclei / max(speech.sum() * hop_s, hop_s))


def cue_statistics(measured: Iterable[Mapping[str, float | None]]) -> dict[str, dict[str, float]]:
    """Per cue over many recordings: n, mean, std and the 10th, 50th and 90th percentiles (missing values skipped)."""
    rows = list(measured)
    out = {}
    for name in CUES:
        values = np.array([r[name] for r in rows if r.get(name) is not None], np.float64)
        if len(values) == 0:
            continue
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        out[name] = {
            "n": len(values),
            "mean": round(float(values.mean()), 4),
            "std": round(float(values.std()), 4),
            "p10": round(float(p10), 4),
            "p50": round(float(p50), 4),
            "p90": round(float(p90), 4),
        }
    return out
