"""The packaged Whisper tiny.en encoder at each clip's own length (mer.features.whisper)."""

import numpy as np
import pytest

from mer.features.config import FeatureConfig, SpeechEncoderSpec
from mer.features.hf import load_speech_encoder
from mer.features.packaged import packaged_path
from mer.features.whisper import FRAME_SAMPLES, WhisperFrameEncoder, load_whisper_frames, whisper_frames
from mer_builder.demo.tones import synth_utterance


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [synth_utterance(e, rng, duration_s=d) for e, d in [("joy", 1.3), ("anger", 2.45), ("sadness", 1.6)]]


@pytest.fixture(scope="module")
def encoder():
    return load_whisper_frames()


def _padded_call(encoder, waveform: np.ndarray) -> np.ndarray:
    """The classic call, written out: log-mel of the clip padded to 30 s, encoded, real frames kept."""
    features = encoder.features
    mel = features(waveform, padding=features.n_samples - len(waveform))[None, :, : features.nb_max_frames]
    return encoder._encode(mel)[0, : int(np.ceil(len(waveform) / FRAME_SAMPLES))]


@pytest.fixture(scope="module")
def padded(encoder, clips) -> list[np.ndarray]:
    return [_padded_call(encoder, clip) for clip in clips]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_frames_cover_each_clip_at_50_per_second(encoder, clips):
    frames = whisper_frames([*clips, np.zeros(0, np.float32), clips[0][:100]])
    assert [f.shape for f in frames] == [(65, 384), (123, 384), (80, 384), (1, 384), (1, 384)]
    assert all(f.dtype == np.float32 and np.isfinite(f).all() for f in frames)
    assert encoder.dim == 384 and encoder.padded_length(len(clips[1])) == 3 * 16000  # the 1 s quantum


def test_a_clips_frames_do_not_depend_on_its_batch(encoder, clips):
    together = encoder([clips[0], clips[2], clips[1], clips[2]], batch_size=2)
    for got, clip in zip(together, [clips[0], clips[2], clips[1], clips[2]], strict=True):
        np.testing.assert_allclose(got, encoder([clip])[0], atol=1e-5)


def test_pad_to_30_s_is_exactly_the_padded_call(clips, padded):
    for got, reference in zip(load_whisper_frames(pad_to_s=30.0)(clips), padded, strict=True):
        np.testing.assert_allclose(got, reference, atol=1e-5)


def test_native_length_frames_stay_close_to_the_padded_call(encoder, clips, padded):
    for native, reference in zip(encoder(clips), padded, strict=True):
        cosine = _cosines(native, reference)
        assert cosine.mean() > 0.85, cosine.mean()  # close, not equal: the frames attend to less silence
        assert np.abs(native - reference).max() > 1e-3


@pytest.mark.real_data
def test_on_real_speech_native_frames_are_closer_still(encoder, real_corpus):
    from mer_builder.audio import load_audio

    wavs = sorted((real_corpus("RAVDESS") / "Actor_01").glob("03-01-0[3-5]-01-01-01-01.wav"))
    assert wavs, "the RAVDESS sample should hold actor 01's first takes"
    clips = [load_audio(path, target_sr=16000)[0] for path in wavs]
    cosines = np.concatenate(
        [_cosines(n, _padded_call(encoder, c)) for n, c in zip(encoder(clips), clips, strict=True)]
    )
    assert cosines.mean() > 0.93, cosines.mean()


def test_a_clip_longer_than_the_window_is_encoded_in_consecutive_windows(clips):
    short_window = WhisperFrameEncoder(str(packaged_path("packaged:whisper-tiny.en")), window_s=1.0)
    (frames,) = short_window([clips[1]])
    parts = short_window([clips[1][:16000], clips[1][16000:32000], clips[1][32000:]])
    np.testing.assert_allclose(frames, np.concatenate(parts), atol=1e-5)
    assert len(frames) == 50 + 50 + 23  # three windows: 1 s, 1 s and the 0.45 s rest


def test_pooled_whisper_vectors_are_the_moments_of_the_frames(encoder, clips):
    vectors = load_speech_encoder(SpeechEncoderSpec(), batch_size=2)(clips)
    for vector, frames in zip(vectors, encoder(clips), strict=True):
        np.testing.assert_allclose(vector, np.concatenate([frames.mean(0), frames.std(0)]), atol=1e-4)


def test_configs_saved_before_pad_to_s_mean_the_padded_call():
    saved = FeatureConfig(audio=(SpeechEncoderSpec(),)).to_dict()
    del saved["audio"][0]["pad_to_s"]
    assert FeatureConfig.from_dict(saved).audio[0].pad_to_s == 30.0
    with pytest.raises(ValueError, match="pad_to_s"):
        SpeechEncoderSpec(pad_to_s=0).check(16000)
