"""The PyAV writers behind the demo's mp4/m4a files: real containers the builder's decoder reads back."""

import av
import numpy as np
import pytest
import soxr

from mer_builder.audio import AudioDecodeError, load_audio
from mer_builder.demo.media import EXPRESSIONS, face_frames, write_m4a, write_mp4
from mer_builder.demo.tones import synth_utterance

SR = 48000


@pytest.fixture(scope="module")
def speech():
    return synth_utterance("joy", np.random.default_rng(3), SR, duration_s=1.5, pitch_factor=1.2)


def _similarity(decoded: np.ndarray, original: np.ndarray) -> float:
    """Peak normalised cross-correlation within 0.1 s of lag (AAC adds an encoder delay in some containers)."""
    reference = soxr.resample(original, SR, 16000)
    n = len(reference) - 1600
    windows = [decoded[lag : lag + n] for lag in range(1600) if lag + n <= len(decoded)]
    return max(np.dot(w, reference[:n]) / (np.linalg.norm(w) * np.linalg.norm(reference[:n]) + 1e-9) for w in windows)


def test_mp4_has_h264_video_and_stereo_aac_that_decodes_back(tmp_path, speech):
    path = tmp_path / "clip.mp4"
    write_mp4(path, speech, SR, fps=24, size=(64, 48), expression="anger", channels=2)
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name in {"h264", "mpeg4"}
        assert (video.width, video.height) == (64, 48)
        assert audio.codec_context.name == "aac" and audio.channels == 2 and audio.rate == SR
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == round(1.5 * 24)
    assert not np.array_equal(frames[0], frames[len(frames) // 2])  # the face moves
    samples, sr = load_audio(path)
    assert sr == 16000 and abs(len(samples) - 24000) < 1024
    assert _similarity(samples, speech) > 0.95  # the downmix of the two attenuated channels is the same speech


def test_m4a_is_mono_aac_and_decodes_back(tmp_path, speech):
    path = tmp_path / "001.m4a"
    write_m4a(path, speech, SR)
    with av.open(str(path)) as container:
        assert [s.type for s in container.streams] == ["audio"]
        assert container.streams.audio[0].channels == 1
    samples, _ = load_audio(path)
    assert _similarity(samples, speech) > 0.95


def test_flv_container_follows_the_suffix(tmp_path, speech):
    path = tmp_path / "clip.flv"
    write_mp4(path, speech, SR)
    with av.open(str(path)) as container:
        assert container.format.name == "flv"
    samples, _ = load_audio(path)
    assert _similarity(samples, speech) > 0.95


def test_video_only_file_has_no_audio_and_needs_a_duration(tmp_path):
    path = tmp_path / "front.mp4"
    write_mp4(path, None, SR, fps=30, size=(48, 48), duration_s=2.0)
    with av.open(str(path)) as container:
        assert not container.streams.audio
        assert sum(1 for _ in container.decode(video=0)) == 60
    with pytest.raises(AudioDecodeError, match="no audio stream"):
        load_audio(path)
    with pytest.raises(ValueError, match="duration_s"):
        write_mp4(tmp_path / "x.mp4", None, SR)


def test_writes_are_atomic_and_reject_unknown_containers(tmp_path, speech):
    write_m4a(tmp_path / "a.m4a", speech, SR)
    with pytest.raises(ValueError, match="unsupported container"):
        write_mp4(tmp_path / "b.wmv", speech, SR)
    with pytest.raises(ValueError, match="even"):
        write_mp4(tmp_path / "c.mp4", speech, SR, size=(63, 48))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.m4a"]


def test_face_follows_the_expression_and_the_loudness():
    quiet, loud = np.zeros(1), np.ones(1)
    mouth_colour = np.array([120, 30, 40])

    def mouth_rows(expression, level):
        frame = face_frames(1, (112, 112), level, expression)[0]
        rows = np.where((frame == mouth_colour).all(axis=2).any(axis=1))[0]
        return rows.min(), rows.max(), int((frame == mouth_colour).all(axis=2).sum())

    assert mouth_rows("neutral", loud)[2] > mouth_rows("neutral", quiet)[2]  # speaking opens the mouth
    # A smile's corners sit above its middle, a frown's below: compare the mouth's lowest rows.
    assert mouth_rows("joy", quiet)[1] > mouth_rows("sadness", quiet)[1]
    frames = {e: face_frames(1, (64, 64), quiet, e)[0] for e in EXPRESSIONS}
    assert len({f.tobytes() for f in frames.values()}) == len(EXPRESSIONS)
