import librosa
import numpy as np
import pytest

from mer.features.config import FeatureConfigError, MfccSpec
from mer.features.mfcc import MfccExtractor, dct_matrix, mel_filterbank
from mer_builder.demo.tones import synth_utterance


def _clips():
    rng = np.random.default_rng(0)
    clips = [synth_utterance(e, rng, duration_s=d) for e, d in [("anger", 3.7), ("sadness", 1.0), ("joy", 0.3)]]
    clips.append((0.1 * rng.standard_normal(12345)).astype(np.float32))
    clips.append(np.zeros(700, np.float32))  # shorter than n_fft, silent: the dB floor decides everything
    return clips


def test_mel_filterbank_and_dct_match_librosa_and_scipy():
    for sr, n_fft, n_mels, fmin, fmax in [(16000, 2048, 128, 0.0, 8000.0), (22050, 512, 40, 50.0, 7000.0)]:
        ours = mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
        theirs = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)
    import scipy.fft

    x = np.random.default_rng(1).standard_normal((3, 128)).astype(np.float32)
    np.testing.assert_allclose(x @ dct_matrix(128, 20), scipy.fft.dct(x, norm="ortho")[:, :20], atol=1e-4)


@pytest.mark.filterwarnings("ignore:n_fft=.*too large:UserWarning")
@pytest.mark.parametrize("spec", [MfccSpec(), MfccSpec(n_mfcc=13, n_fft=512, hop_length=160, n_mels=40, top_db=None)])
def test_frame_mfcc_matches_librosa(spec):
    clips = _clips()
    ours = MfccExtractor(spec, 16000).frame_mfcc(clips)
    for clip, got in zip(clips, ours, strict=True):
        mel = librosa.feature.melspectrogram(
            y=clip, sr=16000, n_fft=spec.n_fft, hop_length=spec.hop_length, n_mels=spec.n_mels
        )
        want = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=spec.top_db), n_mfcc=spec.n_mfcc).T
        assert got.shape == want.shape
        # float32 dB values reach about 300 in magnitude: 1e-3 dB is well inside float32 rounding of the log.
        np.testing.assert_allclose(got, want, atol=2e-3)


@pytest.mark.filterwarnings("ignore:n_fft=.*too large:UserWarning")
def test_summaries_are_mean_and_std_and_do_not_depend_on_batching():
    clips = _clips()
    extractor = MfccExtractor(MfccSpec(), 16000)
    batched = extractor.summaries(clips)
    assert batched.shape == (len(clips), 160) and batched.dtype == np.float32
    one_by_one = np.concatenate([extractor.summaries([c]) for c in clips])
    assert np.array_equal(batched, one_by_one)  # the same bytes, whatever the batch (resumed runs rely on it)
    want = librosa.feature.mfcc(y=clips[0], sr=16000, n_mfcc=80)
    np.testing.assert_allclose(batched[0, :80], want.mean(axis=1), atol=1e-3)
    np.testing.assert_allclose(batched[0, 80:], want.std(axis=1), atol=1e-3)


def test_a_clips_features_do_not_depend_on_its_batch_mates_or_position():
    rng = np.random.default_rng(2)
    clips = [(0.05 * rng.standard_normal(int(rng.integers(8000, 60000)))).astype(np.float32) for _ in range(40)]
    extractor = MfccExtractor(MfccSpec(), 16000)
    alone = extractor.summaries([clips[25]])[0]
    assert np.array_equal(extractor.summaries(clips)[25], alone)
    assert np.array_equal(extractor.summaries(clips[20:26][::-1])[0], alone)


def test_bad_mfcc_settings_are_refused():
    with pytest.raises(FeatureConfigError, match="n_mfcc"):
        MfccExtractor(MfccSpec(n_mfcc=200, n_mels=128), 16000)
    with pytest.raises(FeatureConfigError, match="fmax"):
        MfccExtractor(MfccSpec(fmax=12000.0), 16000)
