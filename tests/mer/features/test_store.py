import json
import os
import pickle

import numpy as np
import pytest

from mer.features.safe_pickle import UnsafePickleError, safe_load
from mer.features.store import ConcatStore, MemmapStore, PickleStore, SubsetStore, open_feature_store


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def _write_pickle_dir(root, n=5, seed=0):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    rows = []
    for i in range(n):
        item = {
            "id": f"RAVDESS/utt{i}", "dataset": "RAVDESS", "split": "train", "speaker_id": f"{i % 2}",
            "emotion": "joy", "true_label": i % 7,
            "audio_features": rng.standard_normal(6).astype(np.float32),
            "text_features": rng.standard_normal(4).astype(np.float32),
        }  # fmt: skip
        rel = f"RAVDESS/utt{i}.pkl"
        (root / rel).parent.mkdir(exist_ok=True)
        (root / rel).write_bytes(pickle.dumps(item))
        rows.append({"path": rel, **{k: v for k, v in item.items() if not k.endswith("_features")}})
    (root / "index.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def _write_memmap_dir(root, audio, text, labels):
    root.mkdir(parents=True)
    np.save(root / "audio.npy", audio)
    np.save(root / "text.npy", text)
    np.save(root / "labels.npy", labels)
    (root / "meta.jsonl").write_text("".join(json.dumps({"id": f"x/{i}"}) + "\n" for i in range(len(labels))))
    info = {"modalities": ["audio", "text"], "dims": {"audio": audio.shape[1], "text": text.shape[1]}}
    (root / "info.json").write_text(json.dumps(info))


def test_restricted_unpickler_refuses_code(tmp_path):
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"audio_features": _RunsCode()}))
    with pytest.raises(UnsafePickleError, match=r"evil.pkl: refused to load posix.system"):
        safe_load(evil)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_restricted_unpickler_admits_plain_data(tmp_path, protocol):
    item = {"a": np.arange(3, dtype=np.float16), "s": np.float32(2), "l": [1, "x", None], "t": (1, 2.5)}
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(item, protocol=protocol))
    back = safe_load(path)
    assert back["a"].dtype == np.float16 and back["a"].tolist() == [0, 1, 2]
    assert back["l"] == [1, "x", None] and back["t"] == (1, 2.5) and back["s"] == 2


def test_pickle_and_memmap_stores_give_the_same_batches(tmp_path):
    _write_pickle_dir(tmp_path / "pk")
    pk = open_feature_store(tmp_path / "pk")
    assert isinstance(pk, PickleStore) and pk.dims == {"audio": 6, "text": 4}
    full = pk.batch(slice(None))
    _write_memmap_dir(tmp_path / "mm", full["audio"], full["text"], full["labels"])
    mm = open_feature_store(tmp_path / "mm")
    assert isinstance(mm, MemmapStore) and isinstance(mm._arrays["audio"], np.memmap)
    rows = np.array([4, 0, 2])
    for store in (pk, mm):
        got = store.batch(rows)
        np.testing.assert_array_equal(got["audio"], full["audio"][rows])
        np.testing.assert_array_equal(got["labels"], [4, 0, 2])


def test_subset_and_concat_keep_row_order(tmp_path):
    _write_pickle_dir(tmp_path / "a", seed=1)
    _write_pickle_dir(tmp_path / "b", seed=2)
    a, b = open_feature_store(tmp_path / "a"), open_feature_store(tmp_path / "b")
    both = ConcatStore([a, SubsetStore(b, [3, 1])])
    assert len(both) == 7 and both.labels.tolist() == [0, 1, 2, 3, 4, 3, 1]
    got = both.batch([6, 0, 5])
    np.testing.assert_array_equal(got["text"][0], b.batch([1])["text"][0])
    np.testing.assert_array_equal(got["text"][1], a.batch([0])["text"][0])
    np.testing.assert_array_equal(got["labels"], [1, 0, 3])


def test_open_feature_store_explains_a_wrong_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected a feature dir"):
        open_feature_store(tmp_path)
