import numpy as np
import pytest
import soundfile as sf

from mer_builder.audio import AudioDecodeError, load_audio, write_wav


def _tone(sr: int, seconds: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_stereo_48k_is_downmixed_and_resampled(tmp_path):
    left = _tone(48000)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, np.zeros_like(left)], axis=1), 48000, subtype="PCM_16")
    samples, sr = load_audio(path)
    assert sr == 16000 and samples.ndim == 1 and samples.dtype == np.float32
    assert len(samples) == 8000
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * 16000 / len(samples) - 440) < 3
    assert np.abs(samples).max() == pytest.approx(0.25, abs=0.02)


def test_write_wav_is_pcm16_and_atomic(tmp_path):
    out = tmp_path / "sub" / "x.wav"
    write_wav(out, _tone(16000) * 3)
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert sorted(p.name for p in out.parent.iterdir()) == ["x.wav"]


def test_m4a_container_decodes_with_pyav(tmp_path):
    import av

    path = tmp_path / "clip.m4a"
    sr = 44100
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=sr, layout="mono")
        samples = _tone(sr, 1.0)
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    decoded, rate = load_audio(path)
    assert rate == 16000 and abs(len(decoded) - 16000) < 2048
    peak = np.argmax(np.abs(np.fft.rfft(decoded))) * 16000 / len(decoded)
    assert abs(peak - 440) < 5


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.wav", b"", "file is empty"),
        ("text.wav", b"this is not audio at all" * 10, "cannot decode audio"),
        ("truncated.wav", b"RIFF\x24\x08\x00\x00WAVEfmt ", "cannot decode audio"),
    ],
)
def test_bad_files_raise_errors_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError, match=message) as info:
        load_audio(path)
    assert name in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(AudioDecodeError, match="file not found"):
        load_audio(tmp_path / "nope.flac")


def test_wav_bytes_round_trip_through_libsndfile_with_extra_chunks(tmp_path):
    from mer_builder.audio import wav_bytes

    stereo = np.stack([_tone(16000, 0.1), -_tone(16000, 0.1)], axis=1) * 1.5  # clipped to full scale
    path = tmp_path / "x.wav"
    path.write_bytes(wav_bytes(stereo, 16000, chunks_before_data=[(b"FLLR", bytes(7))]))
    back, sr = sf.read(path, dtype="int16")
    assert sr == 16000 and back.shape == stereo.shape
    np.testing.assert_array_equal(back, np.round(np.clip(stereo, -1, 1) * 32767).astype(np.int16))
    with pytest.raises(ValueError, match="four bytes"):
        wav_bytes(stereo, 16000, chunks_before_data=[(b"LONGID", b"")])


def test_pcm16_samples_match_libsndfile_float_conversion(tmp_path):
    path = tmp_path / "pcm16.wav"
    rng = np.random.default_rng(0)
    sf.write(path, rng.uniform(-1, 1, (3000, 2)).astype(np.float32), 16000, subtype="PCM_16")
    expected = sf.read(path, dtype="float32")[0].mean(axis=1)
    samples, _ = load_audio(path, target_sr=None)
    np.testing.assert_allclose(samples, expected, rtol=0, atol=1e-7)
