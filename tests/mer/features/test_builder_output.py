"""The feature commands on the dataset builder's own output: its synthetic demo, and real RAVDESS and ESD samples."""

import json

import librosa
import numpy as np
import pytest

from mer.features.cli import extract_hf_main, extract_main, memmap_main
from mer.features.pipeline import FeaturePipeline
from mer.features.safe_pickle import safe_load
from mer.features.store import open_feature_store
from mer_builder import cli as builder

pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")


@pytest.fixture
def built(tmp_path, monkeypatch):
    """`mer_builder demo` + `all` for three corpora, run from tmp_path with relative paths as in the docs."""
    monkeypatch.chdir(tmp_path)
    assert builder.main(["demo", "--out_dir", "D", "--datasets", "ravdess", "cremad", "meld", "--quiet"]) == 0
    assert builder.main(["all", "--raw_dir", "D/raw", "--out_dir", "D/processed", "--datasets", "ravdess",
                         "cremad", "meld", "--quiet"]) == 0  # fmt: skip
    return tmp_path / "D"


@pytest.mark.slow
def test_mfcc_hash_features_and_memmaps_from_the_builder_demo(built):
    manifest = [json.loads(line) for line in (built / "processed" / "meta_manifest.jsonl").read_text().splitlines()]
    args = ["--processed_dir", "D/processed", "--out_dir", "D/F", "--meld_context_window", "2", "--quiet",
            "--num_workers", "1"]  # fmt: skip
    assert extract_main([*args, "--include_speaker_in_text"]) == 0
    info = json.loads((built / "F" / "feature_info.json").read_text())
    assert info["status"] == "ok" and info["n_failed"] == 0
    for group, counts in info["counts"].items():
        assert counts["rows"] == sum(r["group"] == group for r in manifest)
        assert memmap_main(["--in_dir", f"D/F/{group}", "--out_dir", f"D/M/{group}", "--quiet"]) == 0
        store = open_feature_store(built / "M" / group)
        assert store.labels.tolist() == [r["label"] for r in manifest if r["group"] == group]
        assert np.isfinite(store.batch(slice(None))["audio"]).all()
    meld = [r for r in manifest if r["dataset"] == "MELD" and r["group"] == "train"]
    assert meld and all("dialogue_id" in r and "utterance_index" in r for r in meld)


@pytest.mark.slow
def test_face_features_find_the_builders_source_videos(built, tiny_models):
    manifest = [json.loads(line) for line in (built / "processed" / "meta_manifest.jsonl").read_text().splitlines()]
    with_video = [r for r in manifest if r.get("media_path") and r["group"] in ("val", "testA", "testB")]
    assert with_video  # relative to where the builder ran (here), or absolute
    models = ["--audio_model", str(tiny_models["wavlm_layer"]), "--text_model", str(tiny_models["bert"]),
              "--video_model", str(tiny_models["resnet"])]  # fmt: skip
    args = ["--processed_dir", "D/processed", "--out_dir", "D/FH", "--splits", "val", "test", "--quiet",
            "--device", "cpu", "--video_max_frames", "2", *models]  # fmt: skip
    assert extract_hf_main(args) == 0
    info = json.loads((built / "FH" / "feature_info.json").read_text())
    assert info["n_failed"] == 0 and info["dims"]["video"] == 2 * (16 + 52)
    assert info["video"]["clips_with_face"] + len(info["video"]["clips_without_face"]) == len(with_video)


@pytest.mark.real_data
@pytest.mark.slow
def test_real_ravdess_and_esd_through_the_builder_and_the_extractor(real_corpus, tmp_path):
    raw = real_corpus("RAVDESS").parent
    real_corpus("ESD")
    processed = tmp_path / "processed"
    assert builder.main(["all", "--raw_dir", str(raw), "--out_dir", str(processed), "--datasets", "ravdess", "esd",
                         "--quiet"]) == 0  # fmt: skip
    manifest = [json.loads(line) for line in (processed / "meta_manifest.jsonl").read_text().splitlines()]
    args = ["--processed_dir", str(processed), "--out_dir", str(tmp_path / "F"), "--num_workers", "2", "--quiet"]
    assert extract_main(args) == 0
    info = json.loads((tmp_path / "F" / "feature_info.json").read_text())
    assert info["status"] == "ok" and info["n_failed"] == 0
    assert sum(c["rows"] for c in info["counts"].values()) == len(manifest) > 200
    train = open_feature_store(tmp_path / "F" / "train").batch(slice(None))
    assert np.isfinite(train["audio"]).all() and (train["audio"][:, 80:] > 0).all()  # real variation over time
    record = next(r for r in manifest if r["dataset"] == "RAVDESS")
    saved = safe_load(tmp_path / "F" / record["group"] / f"{record['id']}.pkl")["audio_features"]
    samples = FeaturePipeline.from_config(info["config"]).load_waveform(processed / record["audio_path"])
    mfcc = librosa.feature.mfcc(y=samples, sr=16000, n_mfcc=80)
    np.testing.assert_allclose(saved, np.concatenate([mfcc.mean(1), mfcc.std(1)]), atol=2e-3)
