"""Sentiment labels from the manifest through the feature pickles and memmaps to the stores and protocols."""

import json

import numpy as np
import pytest

from mer.features.store import NO_LABEL, open_feature_store
from mer.protocols import ProtocolError, open_features
from mer_builder.labels import SENTIMENTS

GROUPS = ("train", "val", "testA", "testB")


def _manifest(demo_features):
    path = demo_features.parent / "processed" / "meta_manifest.jsonl"
    return {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def test_pickles_and_memmaps_carry_the_sentiment_of_the_manifest(demo_features):
    records = _manifest(demo_features)
    assert {r["sentiment"] for r in records.values() if r["dataset"] == "MELD"} == set(SENTIMENTS)
    assert not any("sentiment" in r for r in records.values() if r["dataset"] == "RAVDESS")
    for group in GROUPS:
        memmap = open_feature_store(demo_features / group, "sentiment")
        pickles = open_feature_store(demo_features.parent / "F" / group, "sentiment")
        assert memmap.label_type == pickles.label_type == "sentiment"
        np.testing.assert_array_equal(memmap.labels, pickles.labels)
        for row, label in zip(memmap.meta, memmap.labels, strict=True):
            expected = records[row["id"]].get("sentiment")
            assert row.get("sentiment") == expected
            assert label == (NO_LABEL if expected is None else SENTIMENTS.index(expected))
        emotions = open_feature_store(demo_features / group)  # the default label type is unchanged
        assert emotions.label_type == "emotion"
        assert [records[m["id"]]["label"] for m in emotions.meta] == emotions.labels.tolist()


def test_open_features_leaves_out_and_counts_the_rows_without_the_label_type(demo_features):
    everything = open_features(demo_features)
    assert everything.unlabelled == {}
    sentiment = open_features(demo_features, label_type="sentiment")
    assert set(sentiment.rows.dataset.tolist()) == {"MELD"}
    assert sentiment.unlabelled == {"RAVDESS": int((everything.rows.dataset == "RAVDESS").sum())}
    assert len(sentiment.store) == int((everything.rows.dataset == "MELD").sum())
    assert (sentiment.store.labels >= 0).all()
    assert (sentiment.store.batch(np.arange(3))["labels"] == sentiment.store.labels[:3]).all()
    with pytest.raises(ProtocolError, match="no row has a sentiment label"):
        open_features(demo_features, corpora=["RAVDESS"], label_type="sentiment")


def test_a_sentiment_outside_the_space_is_an_error_naming_the_file(demo_features, tmp_path):
    group = tmp_path / "testB"
    group.mkdir()
    for item in (demo_features / "testB").iterdir():
        (group / item.name).write_bytes(item.read_bytes())
    rows = (group / "meta.jsonl").read_text(encoding="utf-8").splitlines()
    rows[0] = json.dumps({**json.loads(rows[0]), "sentiment": "mixed"})
    (group / "meta.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"testB/meta.jsonl: row 1 .*'mixed' is not in the sentiment label space"):
        open_feature_store(group, "sentiment")
    assert len(open_feature_store(group)) == len(rows)  # emotion labels do not read the field
