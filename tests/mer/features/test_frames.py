"""Frame sequences: shrinking, the ragged memmap store, per-batch padding, layer choice (issue 9 items 3 and 4)."""

import json
import pickle

import numpy as np
import pytest
import torch

from mer.features.cli import extract_hf_main, memmap_main
from mer.features.config import FeatureConfig, FeatureConfigError, SpeechEncoderSpec
from mer.features.frames import RaggedFramesError, pad_frames, shrink_frames
from mer.features.hf import load_speech_encoder
from mer.features.memmap import MemmapBuildError, build_memmap
from mer.features.safe_pickle import safe_load
from mer.features.store import ConcatStore, MemmapStore, SubsetStore, open_feature_store

pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")


def _clips(*seconds):
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32) for s in seconds]


def test_shrink_frames_averages_groups_then_caps_the_length():
    frames = np.arange(14, dtype=np.float32).reshape(7, 2)
    pooled = shrink_frames(frames, pool=2)
    np.testing.assert_allclose(pooled, [[1, 2], [5, 6], [9, 10], [12, 13]])  # the last group has one frame
    capped = shrink_frames(np.arange(10, dtype=np.float32)[:, None], max_frames=3)
    assert capped.shape == (3, 1)
    np.testing.assert_allclose(capped[:, 0], [1.0, 4.0, 7.5])  # runs of 3, 3 and 4 frames
    assert shrink_frames(frames[:1], pool=4).shape == (1, 2)
    np.testing.assert_array_equal(shrink_frames(frames), frames)


def test_pad_frames_pads_only_to_the_batchs_longest_clip():
    padded, mask = pad_frames([np.ones((3, 4)), np.ones((1, 4))])
    assert padded.shape == (2, 3, 4) and mask.sum(1).tolist() == [3, 1]
    assert not padded[1, 1:].any()
    empty, none = pad_frames([], dim=4)
    assert empty.shape == (0, 1, 4) and none.shape == (0, 1)


def test_layer_choice_is_checked_and_kept_out_of_old_config_hashes():
    with pytest.raises(FeatureConfigError, match="audio layers"):
        SpeechEncoderSpec(layers="middle").check(16000)
    with pytest.raises(FeatureConfigError, match="frame_pool"):
        SpeechEncoderSpec(frame_pool=0).check(16000)
    saved = FeatureConfig(audio=(SpeechEncoderSpec(),), text=None).to_dict()
    assert "layers" not in saved["audio"][0] and "frames" not in saved["audio"][0]  # features made before: same hash
    chosen = FeatureConfig(audio=(SpeechEncoderSpec(layers="all", frames=True),), text=None)
    assert chosen.to_dict()["audio"][0]["layers"] == "all"
    assert FeatureConfig.from_dict(chosen.to_dict()) == chosen


def test_frames_of_all_layers_cover_long_and_short_clips(tiny_models):
    model = str(tiny_models["wavlm_layer"])
    spec = SpeechEncoderSpec(model, layers="all", frames=True, max_audio_s=0.5)
    encoder = load_speech_encoder(spec)
    long, short = _clips(1.25)[0], _clips(0.001)[0][:20]  # three windows; shorter than the receptive field
    vectors, frames = encoder.encode([long, short])
    assert encoder.frame_dim == 3 * 32 and vectors.shape == (2, 2 * 96)
    windows = encoder.model._get_feat_extract_output_lengths(torch.tensor([8000, 8000, 4000])).tolist()
    assert frames[0].shape == (int(sum(windows)), 96)  # every window's frames, in order
    assert len(frames[1]) >= 1 and np.isfinite(frames[1]).all()  # padded to the minimum, not failed
    np.testing.assert_allclose(vectors[0][:96], frames[0].mean(0), atol=1e-5)  # the vector is pooled over them
    last = load_speech_encoder(SpeechEncoderSpec(model, frames=True, max_audio_s=0.5)).encode([long])[1][0]
    np.testing.assert_allclose(last, frames[0][:, 64:], atol=1e-5)  # layer-major: the last layer comes last
    picked = load_speech_encoder(SpeechEncoderSpec(model, layers="0,2", frames=True)).encode([short])[1]
    assert picked[0].shape[1] == 64
    with pytest.raises(FeatureConfigError, match="out of range"):
        load_speech_encoder(SpeechEncoderSpec(model, layers="0,5"))


def _extract(processed, out, model, *extra):
    args = ["--processed_dir", str(processed), "--out_dir", str(out), "--quiet", "--device", "cpu",
            "--num_workers", "1", "--audio_model", model, "--text_model", "none", *extra]  # fmt: skip
    return extract_hf_main(args)


def test_ragged_store_round_trip_resume_and_batches(small_corpus, tmp_path, tiny_models):
    feats, packed = tmp_path / "F", tmp_path / "M" / "train"
    flags = ("--audio_frames", "--audio_layers", "all", "--frame_pool", "2")
    assert _extract(small_corpus, feats, str(tiny_models["wavlm_layer"]), *flags) == 0
    info = json.loads((feats / "feature_info.json").read_text())
    assert info["frame_dims"] == {"audio": 96} and info["frame_layers"] == {"audio": 3}
    assert info["config"]["audio"][0]["layers"] == "all" and info["config"]["audio"][0]["frame_pool"] == 2
    assert _extract(small_corpus, feats, str(tiny_models["wavlm_layer"]), *flags) == 0  # resumes: nothing redone
    assert json.loads((feats / "feature_info.json").read_text())["timing"]["extracted"] == 0

    assert memmap_main(["--in_dir", str(feats / "train"), "--out_dir", str(packed), "--quiet"]) == 0
    store = open_feature_store(packed)
    assert isinstance(store, MemmapStore) and store.frame_dims == {"audio": 96} and store.frame_layers == {"audio": 3}
    values, offsets = store._frames["audio"]
    assert isinstance(values, np.memmap) and not values.flags.writeable  # memory-mapped, read-only
    index = [json.loads(line) for line in (feats / "train" / "index.jsonl").read_text().splitlines()]
    pickled = [safe_load(feats / "train" / row["path"])["audio_frames"] for row in index]
    assert offsets.tolist() == np.cumsum([0] + [len(f) for f in pickled]).tolist()
    assert values.shape == (sum(len(f) for f in pickled), 96)  # the store holds no padding
    lengths = store.frame_lengths("audio")
    assert len(set(lengths.tolist())) > 1  # clips of different lengths

    rows = np.array([0, 3, 5])
    batch = store.batch(rows, frames=("audio",))
    assert batch["audio_frames"].shape == (3, lengths[rows].max(), 96)  # padded to this batch's longest only
    assert batch["audio_frames_mask"].sum(1).tolist() == lengths[rows].tolist()
    for k, row in enumerate(rows):
        np.testing.assert_allclose(batch["audio_frames"][k, : lengths[row]], pickled[row], atol=1e-6)
    assert "audio_frames" not in store.batch(rows)  # vector models read no frames
    both = ConcatStore([SubsetStore(store, [0, 1]), SubsetStore(store, [3])]).batch([2, 0], frames=("audio",))
    assert both["audio_frames"].shape[1] == lengths[[3, 0]].max()
    np.testing.assert_allclose(both["audio_frames"][0, : lengths[3]], pickled[3], atol=1e-6)
    pickle_batch = open_feature_store(feats / "train").batch(rows, frames=("audio",))
    np.testing.assert_allclose(pickle_batch["audio_frames"], batch["audio_frames"], atol=1e-6)


def test_a_bad_frames_pickle_fails_the_pack_and_the_previous_one_survives(small_corpus, tmp_path, tiny_models):
    feats, packed = tmp_path / "F", tmp_path / "M"
    assert _extract(small_corpus, feats, str(tiny_models["wavlm_layer"]), "--audio_frames") == 0
    build_memmap(feats / "train", packed, quiet=True)
    before = (packed / "audio_frames.npy").read_bytes()
    row = json.loads((feats / "train" / "index.jsonl").read_text().splitlines()[1])
    item = safe_load(feats / "train" / row["path"])
    item["audio_frames"] = item["audio_frames"][:, :5]
    (feats / "train" / row["path"]).write_bytes(pickle.dumps(item))
    with pytest.raises(MemmapBuildError, match=r"audio frames have shape \(\d+, 5\), expected \(T, 32\)"):
        build_memmap(feats / "train", packed, quiet=True)
    assert (packed / "audio_frames.npy").read_bytes() == before
    assert sorted(p.name for p in tmp_path.joinpath("M").parent.iterdir() if p.name.startswith(".M")) == []
    np.save(packed / "audio_offsets.npy", np.array([0, 1, 2]))  # tampered offsets: refused, naming the file
    with pytest.raises(RaggedFramesError, match=r"audio_offsets\.npy"):
        MemmapStore(packed)


def test_predict_on_new_audio_makes_frames_as_extraction_did(tiny_models, tmp_path):
    from mer import Predictor
    from mer.config import defaults
    from mer.models import build_model
    from mer.training.checkpoint import make_checkpoint, save_checkpoint
    from mer_builder.labels import EMOTIONS

    spec = SpeechEncoderSpec(str(tiny_models["wavlm_layer"]), layers="all", frames=True, frame_pool=2)
    config = defaults()
    config["model"].update(name="attentive_frames", hidden_dim=16)
    torch.manual_seed(0)
    model = build_model(config["model"], ["audio"], {"audio": 96}, len(EMOTIONS), {"audio": 3}).eval()
    feature_config = FeatureConfig(audio=(spec,), text=None).to_dict()
    ckpt = tmp_path / "best.pt"
    save_checkpoint(ckpt, make_checkpoint(model, config, {"audio": 96}, EMOTIONS, feature_config))
    clip = _clips(0.7)[0]
    (result,) = Predictor.from_checkpoint(ckpt, device="cpu").predict([clip], sample_rate=16000)
    frames = load_speech_encoder(spec).encode([clip])[1][0]  # what extraction would have stored
    with torch.no_grad():
        inputs = {"audio_frames": torch.from_numpy(frames)[None], "audio_frames_mask": torch.ones(1, len(frames)) > 0}
        expected = torch.softmax(model(inputs), dim=1)[0].numpy()
    np.testing.assert_allclose([result.probabilities[e] for e in EMOTIONS], expected, atol=1e-5)


def test_frame_flags_without_frames_or_layers_whisper_lacks_are_one_line_errors(small_corpus, tmp_path, capsys):
    assert _extract(small_corpus, tmp_path / "F", "packaged", "--frame_pool", "2") == 2
    assert "need --audio_frames" in capsys.readouterr().err
    pytest.importorskip("faster_whisper")
    assert _extract(small_corpus, tmp_path / "G", "packaged", "--audio_layers", "all") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exposes only its last layer" in err[0]


def test_token_states_are_kept_for_the_utterance_and_pack_ragged(small_corpus, tmp_path, tiny_models):
    feats = tmp_path / "F"
    args = ["--processed_dir", str(small_corpus), "--out_dir", str(feats), "--quiet", "--device", "cpu",
            "--num_workers", "1", "--audio_model", "none", "--text_model", str(tiny_models["bert"]), "--text_frames",
            "--meld_context_window", "1"]  # fmt: skip
    assert extract_hf_main(args) == 0
    info = json.loads((feats / "feature_info.json").read_text())
    assert info["frame_dims"] == {"text": 32} and info["dims"] == {"text": 64}  # utterance + context blocks
    item = safe_load(feats / "testB" / "MELD" / "test_dia0_utt2.pkl")
    assert item["text_frames"].shape[1] == 32 and len(item["text_frames"]) > 2  # [CLS] words [SEP]
    np.testing.assert_allclose(item["text_features"][:32], item["text_frames"].mean(0), atol=1e-5)
    build_memmap(feats / "testB", tmp_path / "M", quiet=True)
    store = MemmapStore(tmp_path / "M")
    assert store.frame_dims == {"text": 32}
    batch = store.batch([0, 1], frames=("text",))
    assert batch["text_frames_mask"].sum(1).tolist() == store.frame_lengths("text")[[0, 1]].tolist()
