import json
import os
import pickle

import numpy as np
import pytest

from mer.features.cli import extract_main, memmap_main
from mer.features.memmap import MemmapBuildError, build_memmap
from mer.features.safe_pickle import UnsafePickleError, safe_load
from mer.features.store import META_FIELDS, MemmapStore, open_feature_store


@pytest.fixture
def features(small_corpus, tmp_path):
    out = tmp_path / "F"
    args = ["--processed_dir", str(small_corpus), "--out_dir", str(out), "--meld_context_window", "1", "--quiet",
            "--num_workers", "1"]  # fmt: skip
    assert extract_main(args) == 0
    return out


def _rows(group_dir):
    return [json.loads(line) for line in (group_dir / "index.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("group", ["train", "testB"])
def test_round_trip_keeps_values_order_labels_and_meta(features, tmp_path, group):
    out = tmp_path / "M" / group
    assert memmap_main(["--in_dir", str(features / group), "--out_dir", str(out), "--quiet"]) == 0
    rows = _rows(features / group)
    pickles = [safe_load(features / group / row["path"]) for row in rows]
    audio = np.load(out / "audio.npy", mmap_mode="r")
    assert isinstance(audio, np.memmap) and audio.dtype == np.float32 and audio.shape == (len(rows), 160)
    np.testing.assert_array_equal(audio, np.stack([p["audio_features"] for p in pickles]))
    np.testing.assert_array_equal(np.load(out / "text.npy"), np.stack([p["text_features"] for p in pickles]))
    assert not (out / "video.npy").exists()
    assert np.load(out / "labels.npy").tolist() == [p["true_label"] for p in pickles]
    meta = [json.loads(line) for line in (out / "meta.jsonl").read_text().splitlines()]
    assert meta == [{k: p[k] for k in META_FIELDS if k in p} for p in pickles]
    feature_info = json.loads((features / "feature_info.json").read_text())
    info = json.loads((out / "info.json").read_text())
    assert info["modalities"] == ["audio", "text"] and info["n_rows"] == len(rows) and info["dtype"] == "float32"
    assert info["dims"] == feature_info["dims"] == {"audio": 160, "text": 1536}
    assert info["feature_config"] == feature_info["config"]
    assert info["feature_config_hash"] == feature_info["config_hash"]
    memmap_store, pickle_store = open_feature_store(out), open_feature_store(features / group)
    assert isinstance(memmap_store, MemmapStore) and memmap_store.meta == pickle_store.meta
    picks = np.array([3, 0, 2]) if len(rows) > 3 else np.array([2, 0])
    for key, value in pickle_store.batch(picks).items():
        np.testing.assert_array_equal(memmap_store.batch(picks)[key], value)


def test_float16_and_source_hash(features, tmp_path):
    first = build_memmap(features / "val", tmp_path / "a", "float16", quiet=True)
    second = build_memmap(features / "val", tmp_path / "b", "float32", quiet=True)
    assert first["source_hash"] == second["source_hash"] and len(first["source_hash"]) == 64
    half = np.load(tmp_path / "a" / "audio.npy")
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, np.load(tmp_path / "b" / "audio.npy"), rtol=1e-3, atol=1e-2)
    assert open_feature_store(tmp_path / "a").batch([0])["audio"].dtype == np.float32
    item = safe_load(features / "val" / _rows(features / "val")[0]["path"])
    item["text_features"] = item["text_features"] * 2
    (features / "val" / _rows(features / "val")[0]["path"]).write_bytes(pickle.dumps(item))
    assert build_memmap(features / "val", tmp_path / "b", quiet=True)["source_hash"] != second["source_hash"]


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_crafted_pickle_is_refused_and_the_previous_memmap_survives(features, tmp_path, capsys):
    out = tmp_path / "M"
    build_memmap(features / "val", out, quiet=True)
    before = np.load(out / "audio.npy")
    victim = features / "val" / _rows(features / "val")[1]["path"]
    victim.write_bytes(pickle.dumps({"id": "x", "audio_features": _RunsCode()}))
    with pytest.raises(UnsafePickleError, match=rf"{victim.name}: refused to load posix.system"):
        build_memmap(features / "val", out, quiet=True)
    assert memmap_main(["--in_dir", str(features / "val"), "--out_dir", str(out), "--quiet"]) == 2
    assert "refused to load posix.system" in capsys.readouterr().err  # one clear line, not a traceback
    np.testing.assert_array_equal(np.load(out / "audio.npy"), before)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary dirs left behind


def test_inconsistent_or_foreign_dirs_are_errors_naming_the_file(features, tmp_path):
    rows = _rows(features / "val")
    item = safe_load(features / "val" / rows[2]["path"])
    item["audio_features"] = item["audio_features"][:-1]
    (features / "val" / rows[2]["path"]).write_bytes(pickle.dumps(item))
    with pytest.raises(
        MemmapBuildError, match=r"03-01-02-01-01-01-03.pkl: audio features have shape \(159,\), expected \(160,\)"
    ):
        build_memmap(features / "val", tmp_path / "M", quiet=True)
    user_dir = tmp_path / "mine"
    user_dir.mkdir()
    (user_dir / "notes.txt").write_text("keep me")
    with pytest.raises(MemmapBuildError, match="not a memmap feature dir; refusing"):
        build_memmap(features / "train", user_dir, quiet=True)
    assert (user_dir / "notes.txt").read_text() == "keep me"
    with pytest.raises(FileNotFoundError, match=r"index\.jsonl: not found"):
        build_memmap(features, tmp_path / "M", quiet=True)
