"""mer.transcription: the packaged Whisper tiny.en on real (synthesised) speech, offline, with word times, cached."""

from __future__ import annotations

import numpy as np
import pytest

from mer.transcription import Transcriber, Transcript, TranscriptionError
from mer_builder.audio import load_audio, write_wav
from tests.conftest import words_missed

pytest.importorskip("faster_whisper", reason="faster-whisper (offline extras) is not installed")


@pytest.fixture(scope="module")
def two_sentences(speak, tmp_path_factory):
    """'It is a beautiful day outside.', 1.5 s of silence, 'Somebody stole my bicycle.' in one wav; the split time."""
    first, _ = load_audio(speak("It is a beautiful day outside.", "beautiful"))
    second, _ = load_audio(speak("Somebody stole my bicycle.", "stole"))
    path = tmp_path_factory.mktemp("joined") / "two.wav"
    write_wav(path, np.concatenate([first, np.zeros(24000, np.float32), second]))
    return path, (len(first) + 12000) / 16000


def test_speech_is_transcribed_with_word_times_and_cached(two_sentences, tmp_path, monkeypatch):
    path, split = two_sentences
    transcriber = Transcriber(cache_dir=tmp_path / "cache")
    transcript = transcriber.transcribe_file(path)
    heard = " ".join(w.text for w in transcript.words)
    assert words_missed(heard, "it is a beautiful day outside somebody stole my bicycle") <= 1, heard
    assert transcript.language == "en" and transcript.model == "packaged:whisper-tiny.en"
    starts = [w.start_s for w in transcript.words]
    assert starts == sorted(starts) and transcript.words[-1].end_s <= load_audio(path)[0].size / 16000 + 0.1
    assert words_missed(transcript.between(0, split), "It is a beautiful day outside.") <= 1
    assert words_missed(transcript.between(split, 99), "Somebody stole my bicycle.") <= 1

    # a second transcriber over the same cache never loads the model
    again = Transcriber(cache_dir=tmp_path / "cache")
    monkeypatch.setattr(again, "_load", lambda: pytest.fail("the cached transcript should have been used"))
    assert again.transcribe_file(path) == transcript
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1
    assert Transcript.from_dict(transcript.to_dict()) == transcript


def test_silence_gives_no_words_without_loading_the_model(tmp_path, monkeypatch):
    transcriber = Transcriber(use_cache=False)
    monkeypatch.setattr(transcriber, "_load", lambda: pytest.fail("nothing to transcribe in silence"))
    assert transcriber.transcribe(np.zeros(16000, np.float32)).text == ""


def test_models_that_cannot_run_say_why(tmp_path):
    with pytest.raises(TranscriptionError, match="English-only Whisper model and cannot transcribe language 'de'"):
        Transcriber(use_cache=False).transcribe(np.ones(1600, np.float32), language="de")
    (tmp_path / "not_whisper").mkdir()
    with pytest.raises(TranscriptionError, match="not a CTranslate2 Whisper folder"):
        Transcriber(str(tmp_path / "not_whisper"), use_cache=False).transcribe(np.ones(1600, np.float32))
    with pytest.raises(TranscriptionError, match="cannot load the Whisper model 'no-such-whisper-model'"):
        Transcriber("no-such-whisper-model", use_cache=False).transcribe(np.ones(1600, np.float32))
