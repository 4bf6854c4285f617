"""Prediction from a recording alone: Whisper fills in missing transcripts (`--transcribe auto|always|never`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mer import Predictor
from mer.prediction import PredictionError
from mer.prediction.cli import predict_main
from mer_builder.audio import load_audio, write_wav

pytest.importorskip("faster_whisper", reason="faster-whisper (offline extras) is not installed")


def test_a_model_that_needs_text_predicts_from_speech_alone(demo, speak, capsys):
    wav = speak("I am so happy to see you again.", "happy")
    predictor = Predictor.from_checkpoint(demo.checkpoints["at_plain"], device="cpu")
    (result,) = predictor.predict([wav])
    assert result.ok, result.error
    assert result.modalities == ("audio", "text") and result.transcript_source == "whisper"
    assert "happy to see you again" in result.transcript.lower()
    with pytest.raises(PredictionError, match="let Whisper transcribe it"):
        predictor.predict([wav], transcribe="never")
    (given,) = predictor.predict([wav], texts=["What a lovely surprise."])
    assert given.transcript == "What a lovely surprise." and given.transcript_source == "given"

    assert predict_main(["--ckpt", str(demo.checkpoints["at_plain"]), str(wav), "--quiet"]) == 0
    assert f"transcript (whisper): {wav}: I am so happy to see you again." in capsys.readouterr().out
    argv = ["--ckpt", str(demo.checkpoints["at_plain"]), str(wav), "--transcribe", "always", "--text", "x"]
    assert predict_main(argv) == 2
    assert "--transcribe always transcribes every input" in capsys.readouterr().err


def test_timeline_windows_get_the_words_they_cover(demo, speak, tmp_path):
    """Two sentences 4 s apart: each 4 s window is predicted on its own words, exactly as the sentence alone."""
    first, _ = load_audio(speak("It is a beautiful day outside.", "beautiful"))
    second, _ = load_audio(speak("Somebody stole my bicycle.", "stole"))
    length = 4 * 16000
    assert len(first) < length and len(second) < length
    joined = np.zeros(2 * length, np.float32)
    joined[: len(first)], joined[length : length + len(second)] = first, second
    long_path = tmp_path / "long.wav"
    write_wav(long_path, joined)

    predictor = Predictor.from_checkpoint(demo.checkpoints["at_dropout"], device="cpu")
    (whole,) = predictor.predict([long_path], window_s=4)
    assert whole.transcript_source == "whisper"
    texts = [w.transcript for w in whole.timeline]
    assert [t.lower().strip(".") for t in texts] == ["it is a beautiful day outside", "somebody stole my bicycle"]
    for window, text in zip(whole.timeline, texts, strict=True):
        audio = tmp_path / f"{window.start_s:g}.wav"
        write_wav(audio, joined[int(window.start_s * 16000) : int(window.end_s * 16000)])
        (alone,) = predictor.predict([audio], texts=[text])
        np.testing.assert_allclose(list(window.probabilities.values()), list(alone.probabilities.values()), atol=1e-5)

    out = tmp_path / "preds.jsonl"
    assert predict_main(["--ckpt", str(demo.checkpoints["at_dropout"]), str(long_path), "--window_s", "4",
                         "--output", str(out), "--quiet"]) == 0  # fmt: skip
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["transcript_source"] == "whisper" and [w["transcript"] for w in row["timeline"]] == texts
