"""Acoustic cues in plain units, on signals with a known answer and on synthesised speech varied one cue at a time."""

from __future__ import annotations

import numpy as np
import pytest

from mer.explain.acoustics import CUES, acoustic_cues, cue_statistics
from mer_builder.audio import load_audio

SR = 16000
SENTENCE = "I can't believe you did that. This is absolutely wonderful news for all of us."  # 21 syllables


def tone(hz: float, seconds: float = 1.0, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


def test_known_signals():
    sine = acoustic_cues(tone(220), SR)
    assert sine["pitch_level"] == pytest.approx(36.0, abs=0.05)  # 220 Hz is 3 octaves above 27.5 Hz
    assert sine["pitch_range"] == pytest.approx(0, abs=0.05) and sine["hnr"] > 30
    assert sine["loudness"] == pytest.approx(20 * np.log10(0.3 / np.sqrt(2)), abs=0.3)
    low = acoustic_cues(tone(65), SR)
    assert low["pitch_level"] == pytest.approx(12 * np.log2(65 / 27.5), abs=0.1)  # no octave error near the floor

    noise = acoustic_cues(np.random.default_rng(0).normal(0, 0.1, SR).astype(np.float32), SR)
    assert noise["pitch_level"] is None and noise["hnr"] is None and noise["loudness"] is not None
    silence = acoustic_cues(np.zeros(SR, np.float32), SR)
    assert all(silence[name] is None for name in CUES) and silence["speech_s"] == 0


@pytest.fixture(scope="module")
def voices(speak):
    """The same sentence by espeak-ng with one setting changed at a time."""
    settings = {"base": {}, "low": {"pitch": 20}, "high": {"pitch": 80}, "slow": {"speed": 120},
                "fast": {"speed": 260}, "quiet": {"amplitude": 25}}  # fmt: skip
    return {name: acoustic_cues(load_audio(speak(SENTENCE, f"cue_{name}", **s))[0], SR) for name, s in settings.items()}


def test_each_cue_follows_the_voice_setting_it_measures(voices):
    base = voices["base"]
    assert voices["high"]["pitch_level"] - voices["low"]["pitch_level"] > 6  # espeak -p 80 vs -p 20
    assert abs(voices["slow"]["pitch_level"] - base["pitch_level"]) < 0.5  # speed does not move pitch
    syllables = base["speaking_rate"] * base["speech_s"]
    assert 18 <= syllables <= 24  # 21 syllables in the sentence
    assert voices["fast"]["speaking_rate"] / voices["slow"]["speaking_rate"] > 1.6  # 260 vs 120 words a minute
    assert base["loudness"] - voices["quiet"]["loudness"] == pytest.approx(20 * np.log10(4), abs=1.5)
    assert abs(voices["quiet"]["pitch_level"] - base["pitch_level"]) < 0.2  # level does not move pitch
    assert 0 < base["hnr"] < acoustic_cues(tone(150), SR)["hnr"]  # speech is less periodic than a pure tone


def test_statistics_skip_missing_values():
    stats = cue_statistics([{"pitch_level": 30.0}, {"pitch_level": 32.0}, {"pitch_level": None}])
    assert stats["pitch_level"]["n"] == 2 and stats["pitch_level"]["p50"] == pytest.approx(31.0)
    assert "loudness" not in stats
