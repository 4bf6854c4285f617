"""validate and integrity: every way a built dataset can be wrong is found, named and counted."""

import json

import numpy as np
import pytest
import soundfile as sf

from mer_builder.manifest import MANIFEST_NAME
from mer_builder.pipeline import BuildOptions, prepare
from mer_builder.validate import integrity, validate


@pytest.fixture
def built(toy_raw, tmp_path):
    out = tmp_path / "out"
    prepare(["ravdess"], BuildOptions(raw_dir=toy_raw, out_dir=out, quiet=True))
    return out


def _edit_manifest(out, edit) -> None:
    """Apply `edit(list of dicts)` to the manifest in place (keeping the lines' order unless it changes it)."""
    path = out / MANIFEST_NAME
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    rows = edit(rows) or rows
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _messages(result) -> list[str]:
    return [str(issue) for issue in result.issues]


def test_a_fresh_build_passes_both_checks_with_a_summary_table(built):
    result = validate(built)
    assert result.ok, _messages(result)
    table = result.summary().splitlines()
    assert table[0].split() == ["corpus", "split", "utterances", "speakers", "hours", "failures"]
    assert table[1].split() == ["RAVDESS", "train", "16", "4", "0.001", "0"]
    assert [line.split()[1] for line in table[1:4]] == ["train", "val", "test"]
    assert table[4].split() == ["total", "24", "6", "0.002", "0"] and table[-1] == "validate: OK"
    checked = integrity(built, num_workers=2, quiet=True)
    assert checked.ok, _messages(checked)
    assert checked.summary().splitlines()[-1] == "integrity: OK"


def test_speaker_overlap_fails_except_for_official_splits(built):
    def leak(rows):
        test_speaker = next(r["speaker_id"] for r in rows if r["split"] == "test")
        row = next(r for r in rows if r["split"] == "train")
        row["speaker_id"] = test_speaker

    _edit_manifest(built, leak)
    result = validate(built)
    [issue] = result.issues
    assert issue.dataset == "RAVDESS" and "appears in splits train, test" in issue.message
    assert "FAILED (1 issue)" in result.summary()

    def as_meld(rows):
        for r in rows:
            r["id"] = r["id"].replace("RAVDESS/", "MELD/")
            r["dataset"] = "MELD"
            r["group"] = "testB" if r["split"] == "test" else r["split"]
            r["split_by"] = "official"

    _edit_manifest(built, as_meld)
    assert validate(built).ok  # MELD's official splits share speakers (Joey talks in train and test)


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda r: r.update(emotion="contempt"), "emotion 'contempt' is outside the label space"),
        (lambda r: r.update(label=5), "label 5 does not match emotion 'anger'"),
        (lambda r: r.update(sample_rate=22050), "sample_rate 22050, expected 16000"),
        (lambda r: r.update(duration_s=0), "duration_s 0 is not a positive number"),
        (lambda r: r.update(group="testB"), "group 'testB' should be"),
        (lambda r: r.update(audio_path="../../etc/passwd"), "is not inside the output folder"),
        (lambda r: r.update(audio_path="audio/RAVDESS/nope.wav"), "audio file missing"),
        (lambda r: r.update(dataset="Other", id="Other/x"), "dataset 'Other' is neither a built-in corpus nor"),
    ],
)
def test_record_level_problems_are_named_by_id(built, edit, expected):
    edited = []
    _edit_manifest(built, lambda rows: edit(rows[0]) or edited.append(rows[0]["id"]))
    result = validate(built)
    assert [issue.where for issue in result.issues if expected in issue.message] == edited, _messages(result)


def test_text_is_optional(built):
    _edit_manifest(built, lambda rows: rows[0].update(text=""))
    assert validate(built).ok


def test_duplicate_ids_schema_errors_and_order_are_reported(built):
    def damage(rows):
        rows.insert(1, dict(rows[0]))
        del rows[2]["language"]
        rows[3], rows[4] = rows[4], rows[3]
        return [*rows, "not a record", "broken"]

    path = built / MANIFEST_NAME
    _edit_manifest(built, damage)
    path.write_text(path.read_text().replace('"broken"', "{broken json"))
    messages = _messages(validate(built))
    assert any("duplicate id" in m for m in messages)
    assert any("meta_manifest.jsonl:3: not a manifest record (missing fields ['language']" in m for m in messages)
    assert any("out of order" in m for m in messages)
    assert any("meta_manifest.jsonl:26: not a manifest record (a JSON str" in m for m in messages)
    assert any("meta_manifest.jsonl:27: not a manifest record (Expecting property name" in m for m in messages)


def test_requested_corpora_must_be_present(built):
    result = validate(built, ["RAVDESS", "ESD"])
    assert [str(i) for i in result.issues] == ["[ESD] meta_manifest.jsonl: no records; prepare this corpus first"]


def test_integrity_decodes_every_file(built):
    audio = built / "audio" / "RAVDESS"
    (audio / "F02_ang_1.wav").write_bytes(b"")  # emptied
    (audio / "F02_hap_1.wav").write_bytes((audio / "F02_hap_1.wav").read_bytes()[:40])  # truncated header
    sf.write(audio / "F02_neu_1.wav", np.zeros(4000, np.float32), 22050, subtype="PCM_16")  # wrong rate
    sf.write(audio / "F02_sad_1.wav", np.zeros((4000, 2), np.float32), 16000, subtype="PCM_16")  # stereo
    sf.write(audio / "F04_ang_1.wav", np.zeros(4000, np.float32), 16000, subtype="FLOAT")  # not PCM16
    sf.write(audio / "F04_hap_1.wav", np.zeros(8000, np.float32), 16000, subtype="PCM_16")  # 0.5 s, not 0.25
    (audio / "F04_neu_1.wav").unlink()
    result = integrity(built, num_workers=2, quiet=True)
    by_id = {issue.where.removeprefix("RAVDESS/"): issue.message for issue in result.issues}
    assert set(by_id) == {"F02_ang_1", "F02_hap_1", "F02_neu_1", "F02_sad_1", "F04_ang_1", "F04_hap_1", "F04_neu_1"}
    assert "cannot decode" in by_id["F02_ang_1"] and "cannot decode" in by_id["F02_hap_1"]
    assert "sample rate 22050 Hz, expected 16000" in by_id["F02_neu_1"]
    assert "2 channels, expected mono" in by_id["F02_sad_1"]
    assert "sample format FLOAT, expected PCM_16" in by_id["F04_ang_1"]
    assert "decodes to 0.5000 s, the manifest says 0.25 s" in by_id["F04_hap_1"]
    assert by_id["F04_neu_1"].endswith("F04_neu_1.wav: file missing")
    assert all(str(audio) in message for message in by_id.values())
    summary = result.summary()
    assert "integrity: FAILED (7 issues)" in summary


def test_a_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"meta_manifest\.jsonl: manifest not found"):
        validate(tmp_path)
