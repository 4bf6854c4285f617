import json

import pytest

from mer_builder.labels import (
    EMOTIONS,
    LABEL_SPACES,
    SENTIMENTS,
    LabelPolicy,
    label_index,
    label_space,
    map_raw_label,
    sentiment_from_score,
)
from mer_builder.manifest import ManifestRecord, group_of, iter_manifest, read_manifest, write_manifest

RAVDESS_TABLE = {"01": "neutral", "03": "joy"}


def test_label_order_is_fixed():
    assert EMOTIONS == ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
    assert [label_index(e) for e in EMOTIONS] == list(range(7))
    with pytest.raises(ValueError, match="contempt"):
        label_index("contempt")


def test_label_spaces_name_their_classes_and_record_field():
    assert SENTIMENTS == ("negative", "neutral", "positive")
    assert {name: (space.classes, space.field) for name, space in LABEL_SPACES.items()} == {
        "emotion": (EMOTIONS, "emotion"),
        "sentiment": (SENTIMENTS, "sentiment"),
    }
    assert label_space("sentiment").index("positive") == 2
    with pytest.raises(ValueError, match="'mixed' is not in the sentiment label space"):
        label_space("sentiment").index("mixed")
    with pytest.raises(ValueError, match="unknown label type 'valence'"):
        label_space("valence")


@pytest.mark.parametrize(
    ("score", "sentiment"),
    [(-3.0, "negative"), (-2 / 3, "negative"), (-0.5, "negative"), (-1 / 3, "neutral"), (0.0, "neutral"),
     (0.49, "neutral"), (0.5, "positive"), (2 / 3, "positive"), (3.0, "positive")],
)  # fmt: skip
def test_sentiment_scores_bin_by_rounding_on_the_seven_point_scale(score, sentiment):
    assert sentiment_from_score(score) == sentiment


def test_a_nan_sentiment_score_is_an_error():
    with pytest.raises(ValueError, match="NaN"):
        sentiment_from_score(float("nan"))


def test_policy_maps_or_drops_and_rejects_unknown_choices():
    policy_labels = {"02": "ravdess_calm"}
    assert map_raw_label("02", RAVDESS_TABLE, LabelPolicy(), policy_labels) is None
    assert map_raw_label("02", RAVDESS_TABLE, LabelPolicy(ravdess_calm="map_to_neutral"), policy_labels) == "neutral"
    assert map_raw_label("03", RAVDESS_TABLE, LabelPolicy(), policy_labels) == "joy"
    with pytest.raises(KeyError, match="unknown raw label '09'"):
        map_raw_label("09", RAVDESS_TABLE, LabelPolicy(), policy_labels)
    with pytest.raises(ValueError, match="--mead_contempt"):
        LabelPolicy(mead_contempt="map_to_anger")


def test_groups():
    assert group_of("MELD", "test") == "testB"
    assert group_of("RAVDESS", "test") == "testA"
    assert group_of("MELD", "val") == "val"


def _record(native_id: str, **overrides) -> ManifestRecord:
    fields = dict(
        id=f"MELD/{native_id}", dataset="MELD", split="train", group="train", speaker_id="Joey",
        emotion="joy", label=3, raw_label="joy", text="How you doin’?", audio_path=f"audio/MELD/{native_id}.wav",
        duration_s=1.5, sample_rate=16000, language="en", dialogue_id="3", utterance_index=0,
    )  # fmt: skip
    fields.update(overrides)
    return ManifestRecord(**fields)


def test_manifest_roundtrip_is_sorted_utf8_and_byte_identical(tmp_path):
    records = [_record("train_dia3_utt1"), _record("train_dia3_utt0")]
    path = tmp_path / "meta_manifest.jsonl"
    write_manifest(records, path)
    first = path.read_bytes()
    write_manifest(reversed(records), path)
    assert path.read_bytes() == first
    assert "’" in first.decode("utf-8")
    back = read_manifest(path)
    assert [r.id for r in back] == ["MELD/train_dia3_utt0", "MELD/train_dia3_utt1"]
    assert back[0] == records[1]
    assert "notes" not in json.loads(first.decode().splitlines()[0])


def test_record_problems_catch_schema_violations():
    assert _record("a").problems() == []
    assert any("label 5 does not match" in p for p in _record("a", label=5).problems())
    assert any("group 'testA'" in p for p in _record("a", split="test", group="testA").problems())
    assert _record("a", text="").problems() == []  # text is optional for every corpus
    assert any("split_by 'hash' is not one of" in p for p in _record("a", split_by="hash").problems())
    assert _record("a", sentiment="positive").problems() == []
    assert any("sentiment 'happy' is outside" in p for p in _record("a", sentiment="happy").problems())


def test_malformed_manifest_names_file_and_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(_record("a").to_json() + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"m.jsonl:2: not valid JSON"):
        list(iter_manifest(path))
    path.write_text('{"id": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"m.jsonl:1: missing fields \['dataset'"):
        list(iter_manifest(path))
