"""The prepare pipeline on a toy corpus: audio, splits, outputs, reruns."""

import json
import os

import numpy as np
import pytest
import soundfile as sf

from mer_builder.manifest import MANIFEST_NAME, read_manifest
from mer_builder.pipeline import BuildOptions, OutputDirError, prepare
from mer_builder.recipes.common import CorpusError


def _options(raw, out, **overrides) -> BuildOptions:
    return BuildOptions(raw_dir=raw, out_dir=out, quiet=True, **{"num_workers": 1, **overrides})


def _mtimes(folder):
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.rglob("*.wav"))}


def test_prepare_writes_16k_mono_audio_and_a_complete_sorted_manifest(toy_raw, tmp_path):
    out = tmp_path / "out"
    [outcome] = prepare(["ravdess"], _options(toy_raw, out, num_workers=2))
    records = read_manifest(out / MANIFEST_NAME)
    assert [r.id for r in records] == sorted(r.id for r in records)
    assert len(records) == 24 and outcome.report["records"] == 24  # 6 speakers x 4 kept labels
    first = records[0]
    assert first.id == "RAVDESS/F02_ang_1" and first.audio_path == "audio/RAVDESS/F02_ang_1.wav"
    assert (first.emotion, first.label, first.raw_label, first.gender) == ("anger", 0, "ang", "female")
    assert first.text == "Speaker F02 says “ang”, once."  # non-ASCII kept
    for record in records:
        assert record.problems() == []
        assert record.sample_rate == 16000 and record.duration_s == pytest.approx(0.25, abs=1e-3)
        info = sf.info(out / record.audio_path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    # The stereo 48 kHz source is downmixed (mean of L and 0.5 L) and resampled, not truncated.
    source, _ = sf.read(toy_raw / "ToyRAVDESS" / "F02" / "F02_ang_1.wav", dtype="float32")
    written, _ = sf.read(out / first.audio_path, dtype="float32")
    assert len(written) == 4000
    assert np.abs(written).max() == pytest.approx(np.abs(source.mean(axis=1)).max(), rel=0.05)
    umask = os.umask(0)
    os.umask(umask)
    assert (out / MANIFEST_NAME).stat().st_mode & 0o777 == 0o666 & ~umask


def test_splits_are_speaker_disjoint_and_hold_both_genders(toy_raw, tmp_path):
    prepare(["ravdess"], _options(toy_raw, tmp_path / "out"))
    records = read_manifest(tmp_path / "out" / MANIFEST_NAME)
    split_of_speaker = {}
    for r in records:
        assert split_of_speaker.setdefault(r.speaker_id, r.split) == r.split
        assert r.group == {"test": "testA"}.get(r.split, r.split)  # an acted corpus's test is testA
    assert sorted(split_of_speaker.values()) == ["test", "train", "train", "train", "train", "val"]
    genders = {split: {r.gender for r in records if r.split == split} for split in ("train", "val", "test")}
    assert genders["train"] == {"male", "female"}
    assert genders["val"] | genders["test"] == {"male", "female"}


def test_rebuild_is_byte_identical_and_rewrites_no_audio(toy_raw, tmp_path):
    out = tmp_path / "out"
    prepare(["ravdess"], _options(toy_raw, out))
    manifest, stats = (out / MANIFEST_NAME).read_bytes(), (out / "stats.json").read_bytes()
    mtimes = _mtimes(out / "audio")
    [outcome] = prepare(["ravdess"], _options(toy_raw, out))
    assert outcome.report["audio"]["reused"] == 24 and outcome.report["audio"]["normalised"] == 0
    assert (out / MANIFEST_NAME).read_bytes() == manifest and (out / "stats.json").read_bytes() == stats
    assert _mtimes(out / "audio") == mtimes
    [forced] = prepare(["ravdess"], _options(toy_raw, out, force=True, num_workers=2))
    assert forced.report["audio"]["normalised"] == 24
    assert (out / MANIFEST_NAME).read_bytes() == manifest


def test_one_worker_and_two_workers_give_identical_outputs(toy_raw, tmp_path):
    prepare(["ravdess"], _options(toy_raw, tmp_path / "a", num_workers=1))
    prepare(["ravdess"], _options(toy_raw, tmp_path / "b", num_workers=2))
    assert (tmp_path / "a" / MANIFEST_NAME).read_bytes() == (tmp_path / "b" / MANIFEST_NAME).read_bytes()
    for wav in (tmp_path / "a" / "audio").rglob("*.wav"):
        assert wav.read_bytes() == (tmp_path / "b" / wav.relative_to(tmp_path / "a")).read_bytes()


def test_changed_or_deleted_outputs_are_redone_and_others_kept(toy_raw, tmp_path):
    out = tmp_path / "out"
    prepare(["ravdess"], _options(toy_raw, out))
    mtimes = _mtimes(out / "audio")
    source = toy_raw / "ToyRAVDESS" / "M01" / "M01_hap_1.wav"
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    (out / "audio" / "RAVDESS" / "F04_sad_1.wav").unlink()
    [outcome] = prepare(["ravdess"], _options(toy_raw, out))
    assert outcome.report["audio"] == {**outcome.report["audio"], "normalised": 2, "reused": 22}
    after = _mtimes(out / "audio")
    assert {name for name in after if after[name] != mtimes.get(name)} == {"M01_hap_1.wav", "F04_sad_1.wav"}


def test_splits_ignore_file_order_and_change_with_seed(toy_raw, tmp_path, toy_recipes):
    prepare(["ravdess"], _options(toy_raw, tmp_path / "a", seed=0))
    toy = toy_recipes("ravdess")
    original_parse = toy.parse
    toy.parse = lambda corpus_dir, ctx: reversed(list(original_parse(corpus_dir, ctx)))
    prepare(["ravdess"], _options(toy_raw, tmp_path / "b", seed=0))
    assert (tmp_path / "a" / MANIFEST_NAME).read_bytes() == (tmp_path / "b" / MANIFEST_NAME).read_bytes()
    assignments = set()
    for seed in range(6):
        prepare(["ravdess"], _options(toy_raw, tmp_path / f"s{seed}", seed=seed))
        records = read_manifest(tmp_path / f"s{seed}" / MANIFEST_NAME)
        assignments.add(tuple(sorted({(r.speaker_id, r.split) for r in records})))
    assert len(assignments) > 1


def test_preparing_a_second_corpus_keeps_the_first(toy_raw, tmp_path, toy_recipes, write_toy):
    cremad = toy_recipes("cremad")
    write_toy(toy_raw / cremad.FOLDER, speakers=("M10", "F11", "M12"), labels=("ang", "neu"))
    out = tmp_path / "out"
    prepare(["ravdess"], _options(toy_raw, out))
    ravdess_lines = (out / MANIFEST_NAME).read_text("utf-8").splitlines()
    prepare(["cremad"], _options(toy_raw, out))
    lines = (out / MANIFEST_NAME).read_text("utf-8").splitlines()
    assert len(lines) == 24 + 6 and set(ravdess_lines) <= set(lines)
    assert [json.loads(line)["id"] for line in lines] == sorted(json.loads(line)["id"] for line in lines)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["corpora"]["RAVDESS"]["utterances"] == 24 and stats["corpora"]["CREMA-D"]["utterances"] == 6
    assert set(json.loads((out / "build_report.json").read_text())["corpora"]) == {"RAVDESS", "CREMA-D"}


def test_official_splits_are_kept_and_meld_test_is_test_b(tmp_path, toy_recipes, write_toy):
    meld = toy_recipes("meld", splits={"M01": "train", "F02": "val", "M03": "test"})
    write_toy(tmp_path / "raw" / meld.FOLDER, speakers=("M01", "F02", "M03"), labels=("hap",))
    prepare(["meld"], _options(tmp_path / "raw", tmp_path / "out"))
    groups = {(r.speaker_id, r.split, r.group) for r in read_manifest(tmp_path / "out" / MANIFEST_NAME)}
    assert groups == {("M01", "train", "train"), ("F02", "val", "val"), ("M03", "test", "testB")}


def test_a_corpus_with_two_languages_gets_both_in_val_and_test(tmp_path, toy_recipes, write_toy):
    speakers = ("M01", "F02", "M03", "F04", "M05", "F06", "M07", "F08", "M09", "F10")
    esd = toy_recipes("esd", languages={s: ("zh" if int(s[1:]) <= 5 else "en") for s in speakers})
    write_toy(tmp_path / "raw" / esd.FOLDER, speakers=speakers, labels=("neu",), seconds=0.1)
    prepare(["esd"], _options(tmp_path / "raw", tmp_path / "out"))
    records = read_manifest(tmp_path / "out" / MANIFEST_NAME)
    held_out = {r.language for r in records if r.split != "train"}
    assert held_out == {"zh", "en"}


def test_stats_count_corpus_split_label_and_durations(toy_raw, tmp_path):
    prepare(["ravdess"], _options(toy_raw, tmp_path / "out"))
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    ravdess = stats["corpora"]["RAVDESS"]
    assert stats["utterances"] == 24 and stats["duration_s"] == pytest.approx(6.0, abs=0.01)
    assert ravdess["labels"] == {"anger": 6, "disgust": 0, "fear": 0, "joy": 6, "neutral": 6, "sadness": 6,
                                 "surprise": 0}  # fmt: skip
    assert sum(s["utterances"] for s in ravdess["splits"].values()) == 24
    assert ravdess["splits"]["test"]["speakers"] == 1 and ravdess["splits"]["test"]["labels"]["joy"] == 1


def test_policy_drops_are_reported_and_mapping_keeps_them(toy_raw, tmp_path):
    from mer_builder.labels import LabelPolicy

    prepare(["ravdess"], _options(toy_raw, tmp_path / "drop"))
    report = json.loads((tmp_path / "drop" / "build_report.json").read_text())
    assert report["counts_per_reason"]["drops"] == {"label 'cal' dropped by --ravdess_calm drop": 6}
    speakers = ("M01", "F02", "M03", "F04", "M05", "F06")
    assert {d["file"].rsplit("/", 1)[-1] for d in report["drops"]} == {f"{s}_cal_1.wav" for s in speakers}
    prepare(["ravdess"], _options(toy_raw, tmp_path / "map", policy=LabelPolicy(ravdess_calm="map_to_neutral")))
    records = read_manifest(tmp_path / "map" / MANIFEST_NAME)
    assert sum(r.raw_label == "cal" and r.emotion == "neutral" for r in records) == 6


def test_out_dir_with_user_files_is_refused_and_left_alone(toy_raw, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(OutputDirError, match="not empty and was not made by mer_builder"):
        prepare(["ravdess"], _options(toy_raw, out))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_duplicate_ids_are_an_error_naming_both_files(toy_raw, tmp_path, toy_recipes):
    toy = toy_recipes("ravdess")
    original_parse = toy.parse

    def parse_twice(corpus_dir, ctx):
        utterances = list(original_parse(corpus_dir, ctx))
        yield from utterances
        yield from utterances[:1]

    toy.parse = parse_twice
    with pytest.raises(CorpusError, match=r"duplicate id 'RAVDESS/F02_ang_1' \(also produced by .*F02_ang_1.wav"):
        prepare(["ravdess"], _options(toy_raw, tmp_path / "out"))
    [outcome] = prepare(["ravdess"], _options(toy_raw, tmp_path / "out2", continue_on_error=True))
    assert outcome.report["records"] == 24 and len(outcome.problems) == 1


@pytest.mark.parametrize(
    "change, message",
    [
        ({"emotion": "contempt"}, "emotion 'contempt' .* outside the label space"),
        ({"native_id": "../escape"}, "native id '../escape' is not a relative file name"),
        ({"speaker_id": ""}, "no speaker id"),
        ({"split": "dev"}, "preset split 'dev' is not one of"),
        ({"dataset": "MELD"}, "recipe yielded dataset 'MELD' inside corpus 'RAVDESS'"),
    ],
)
def test_recipe_output_that_breaks_the_manifest_is_a_problem(toy_raw, tmp_path, toy_recipes, change, message):
    toy = toy_recipes("ravdess")
    original_parse = toy.parse

    def parse(corpus_dir, ctx):
        for i, u in enumerate(original_parse(corpus_dir, ctx)):
            yield u if i else type(u)(**{**vars(u), **change})

    toy.parse = parse
    with pytest.raises(CorpusError, match=message):
        prepare(["ravdess"], _options(toy_raw, tmp_path / "out"))
    [outcome] = prepare(["ravdess"], _options(toy_raw, tmp_path / "out2", continue_on_error=True))
    assert outcome.report["records"] == 23 and outcome.problems[0]["file"].endswith("F02_ang_1.wav")


def test_a_recipe_object_can_be_prepared_directly(tmp_path, toy_recipes, write_toy):
    """Your own corpus: a recipe object (CORPUS, locate, parse) is used as given, with no name lookup."""
    recipe = toy_recipes("esd")
    write_toy(tmp_path / "raw" / recipe.FOLDER, speakers=("M01", "F02", "M03"), labels=("neu",), seconds=0.1)
    [outcome] = prepare([recipe], _options(tmp_path / "raw", tmp_path / "out"))
    assert outcome.corpus == "ESD" and outcome.report["records"] == 3
