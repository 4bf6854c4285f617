"""Splits you choose: ratios, speaker lists and folds per corpus, and corpora with a single speaker."""

import json
import re
from collections import Counter

import pytest

from mer_builder.cli import main
from mer_builder.manifest import MANIFEST_NAME, read_manifest
from mer_builder.split_spec import SplitSpecError, load_split_spec
from mer_builder.validate import validate

TEN = ("M01", "F02", "M03", "F04", "M05", "F06", "M07", "F08", "M09", "F10")


def _prepare(capsys, raw, out, *extra):
    code = main(
        ["prepare", "--datasets", "ravdess", "--raw_dir", str(raw), "--out_dir", str(out), "--quiet", *map(str, extra)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return read_manifest(out / MANIFEST_NAME), json.loads((out / "corpora" / "RAVDESS.report.json").read_text())


def _speaker_splits(records):
    splits = {}
    for r in records:
        splits.setdefault(r.speaker_id, set()).add(r.split)
    assert all(len(s) == 1 for s in splits.values())
    return {speaker: s.pop() for speaker, s in splits.items()}


@pytest.fixture
def ten_speakers(tmp_path, toy_recipes, write_toy):
    raw = tmp_path / "raw"
    write_toy(raw / toy_recipes("ravdess").FOLDER, speakers=TEN, labels=("ang", "hap"), seconds=0.1)
    return raw


def test_ratios_are_settable(capsys, ten_speakers, tmp_path):
    records, report = _prepare(capsys, ten_speakers, tmp_path / "out", "--split_ratios", "0.6,0.2,0.2")
    assert Counter(_speaker_splits(records).values()) == {"train": 6, "val": 2, "test": 2}
    assert report["split"]["ratios"] == [0.6, 0.2, 0.2] and report["split"]["by"] == {"speaker": 20}
    assert {r.split_by for r in records} == {"speaker"} and validate(tmp_path / "out").ok
    argv = ["prepare", "--datasets", "ravdess", "--raw_dir", str(ten_speakers), "--out_dir", str(tmp_path / "out")]
    assert main([*argv, "--quiet"]) == 2  # other splits would replace the records built here: refused, named
    err = capsys.readouterr().err
    assert "RAVDESS was built here with --split_spec {'ratios': [0.6, 0.2, 0.2]" in err and "--force" in err
    assert main([*argv, "--quiet", "--force"]) == 0


def test_explicit_test_speakers_as_in_the_literature(capsys, ten_speakers, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("corpora:\n  RAVDESS:\n    test: [M09, F10, Actor_24]\n")
    records, report = _prepare(capsys, ten_speakers, tmp_path / "out", "--split_spec", spec)
    splits = _speaker_splits(records)
    assert sorted(s for s, split in splits.items() if split == "test") == ["F10", "M09"]
    assert Counter(splits.values())["val"] == 1  # val drawn from the others at the default 0.8:0.1
    assert {r.split_by for r in records} == {"spec"} and report["split"]["listed_but_absent"] == ["Actor_24"]
    assert report["split"]["spec"]["test"] == ["M09", "F10", "Actor_24"] and report["split"]["spec_file"] == str(spec)
    assert validate(tmp_path / "out").ok


def test_folds_are_kept_in_the_manifest(capsys, ten_speakers, tmp_path):
    spec = tmp_path / "spec.yaml"
    folds = {f"f{k}": list(TEN[2 * k : 2 * k + 2]) for k in range(5)}
    spec.write_text(json.dumps({"corpora": {"ravdess": {"folds": folds, "test_fold": "f4", "val_fold": "f3"}}}))
    records, _ = _prepare(capsys, ten_speakers, tmp_path / "out", "--split_spec", spec)
    fold_of = {speaker: name for name, members in folds.items() for speaker in members}
    assert all(r.fold == fold_of[r.speaker_id] for r in records)
    assert all(r.split == {"f4": "test", "f3": "val"}.get(r.fold, "train") for r in records)
    spec.write_text(json.dumps({"corpora": {"RAVDESS": {"folds": {"a": list(TEN[:8])}, "test_fold": "a"}}}))
    code = main(["prepare", "--datasets", "ravdess", "--raw_dir", str(ten_speakers), "--out_dir",
                 str(tmp_path / "o2"), "--quiet", "--split_spec", str(spec)])  # fmt: skip
    assert code == 1 and "speakers ['F10', 'M09'] are in no fold" in capsys.readouterr().err


def test_a_single_speaker_corpus_is_split_by_utterance_with_a_warning(capsys, tmp_path, toy_recipes, write_toy):
    raw = tmp_path / "raw"
    write_toy(raw / toy_recipes("ravdess").FOLDER, speakers=("M20",), labels=("ang", "hap", "neu", "sad"))
    records, report = _prepare(capsys, raw, tmp_path / "out", "--split_ratios", "0.5,0.25,0.25")
    assert Counter(r.split for r in records) == {"train": 2, "val": 1, "test": 1}
    assert {r.split for r in records} == {"train", "val", "test"} and {r.split_by for r in records} == {"utterance"}
    assert report["split"]["warning"].startswith("one speaker (M20): split by utterance")
    assert validate(tmp_path / "out").ok  # utterance-level: the speaker may recur, and the record says why
    spec = tmp_path / "spec.yaml"
    spec.write_text("single_speaker: train_only\n")
    records, report = _prepare(capsys, raw, tmp_path / "out2", "--split_spec", spec)
    assert {r.split for r in records} == {"train"} and "train only" in report["split"]["warning"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ratios: [0.5, 0.5]\n", "ratios must be three shares train,val,test summing to 1"),
        ("ratios: [0.9, 0.2, 0.1]\n", "summing to 1"),
        ("corpora: {RAVDESS: {tests: [a]}}\n", "unknown keys ['tests']"),
        ("corpora: {RAVDESS: {test: [a], folds: {x: [b]}, test_fold: x}}\n", "either test/val speaker lists or folds"),
        ("corpora: {RAVDESS: {folds: {x: [b]}, test_fold: y}}\n", "test_fold: 'y' is not one of the folds ['x']"),
        ("corpora: {RAVDESS: {folds: {x: [b]}}}\n", "folds need a test_fold"),
        ("corpora: {RAVDESS: {test: [a], val: [a]}}\n", "speakers ['a'] are listed more than once"),
        ("single_speaker: drop\n", "single_speaker must be one of ['utterances', 'train_only']"),
        ("folds: 3\n", "expected a mapping with keys"),
    ],
)
def test_a_bad_spec_is_one_line_naming_the_file(tmp_path, text, message):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    with pytest.raises(SplitSpecError, match=re.escape(message)) as info:
        load_split_spec(spec)
    assert str(info.value).startswith(str(spec)) and "\n" not in str(info.value)
    with pytest.raises(SplitSpecError, match="--split_ratios: ratios must be"):
        load_split_spec(None, "0.8,0.3,0.1")
