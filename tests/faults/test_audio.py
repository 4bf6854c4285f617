"""Corrupt and degenerate audio: one bad file is named, counted, and never costs the others."""

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from mer.prediction.cli import predict_main
from mer_builder.manifest import MANIFEST_NAME, read_manifest

from .conftest import build, error_lines, ravdess_name

ONE_SAMPLE = "too short: 1 sample at 48000 Hz is less than one sample at 16000 Hz"


def _one_sample_wav(raw):
    path = raw / "RAVDESS" / "Actor_03" / f"{ravdess_name(3, '04')}.wav"
    sf.write(path, np.array([0.25], np.float32), 48000, subtype="PCM_16")
    return path


def _report(out):
    return json.loads((out / "build_report.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "policy, extra, code, kept, action",
    [
        ("drop", [], 0, 23, "dropped"),
        ("drop", ["--continue_on_error"], 0, 23, "dropped"),
        ("replace_with_silence", [], 0, 24, "replaced_with_silence"),
        ("replace_with_silence", ["--continue_on_error"], 0, 24, "replaced_with_silence"),
        ("error", ["--continue_on_error"], 1, 23, "failed"),
    ],
)
def test_a_one_sample_wav_is_one_counted_failure_under_every_policy(
    ravdess_raw, tmp_path, capsys, policy, extra, code, kept, action
):
    bad = _one_sample_wav(ravdess_raw)
    out = tmp_path / "out"
    assert build(ravdess_raw, out, "--audio_failure", policy, *extra) == code
    records = {r.id: r for r in read_manifest(out / MANIFEST_NAME)}
    assert len(records) == kept
    [failure] = _report(out)["audio_failures"]
    assert failure == {"dataset": "RAVDESS", "file": str(bad), "reason": ONE_SAMPLE, "action": action}
    stderr = capsys.readouterr().err
    assert str(bad) in stderr and ONE_SAMPLE in stderr and "Traceback" not in stderr
    if policy == "replace_with_silence":
        record = records[f"RAVDESS/{bad.stem}"]
        assert record.duration_s == 1.0 and ONE_SAMPLE in record.notes[0]


def test_a_one_sample_wav_stops_the_error_policy_naming_the_file(ravdess_raw, tmp_path, capsys):
    bad = _one_sample_wav(ravdess_raw)
    out = tmp_path / "out"
    assert build(ravdess_raw, out, "--audio_failure", "error") == 1
    [line] = error_lines(capsys.readouterr().err)
    assert str(bad) in line and ONE_SAMPLE in line
    report = json.loads((out / "corpora" / "RAVDESS.report.json").read_text(encoding="utf-8"))
    assert report["status"] == "failed" and report["file"] == str(bad)
    assert read_manifest(out / MANIFEST_NAME) == []  # the corpus is not published half-built


def test_predict_names_a_one_sample_wav_and_predicts_the_good_files_beside_it(
    ravdess_raw, tmp_path, capsys, audio_checkpoint
):
    bad = _one_sample_wav(ravdess_raw)
    good = sorted((ravdess_raw / "RAVDESS" / "Actor_01").glob("*.wav"))
    out = tmp_path / "predictions.csv"
    argv = [str(bad), *map(str, good), "--ckpt", str(audio_checkpoint), "--output", str(out), "--quiet"]
    assert predict_main([*argv, "--device", "cpu"]) == 1
    with out.open(newline="", encoding="utf-8") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    assert [rows[str(p)]["status"] for p in good] == ["ok"] * len(good)
    assert rows[str(bad)]["status"] == "failed" and ONE_SAMPLE in rows[str(bad)]["error"]
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: {bad}") and ONE_SAMPLE in line


def test_float_samples_above_full_scale_are_clipped_with_a_note(ravdess_raw, tmp_path, capsys):
    loud = ravdess_raw / "RAVDESS" / "Actor_02" / f"{ravdess_name(2, '05')}.wav"
    t = np.arange(4800) / 48000
    sf.write(loud, (1.8 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 48000, subtype="FLOAT")
    out = tmp_path / "out"
    assert build(ravdess_raw, out) == 0
    records = {r.id: r for r in read_manifest(out / MANIFEST_NAME)}
    [note] = records[f"RAVDESS/{loud.stem}"].notes
    assert "above full scale (peak 1.8" in note and "clipped to [-1, 1]" in note
    assert sum(bool(r.notes) for r in records.values()) == 1
    samples, _ = sf.read(out / records[f"RAVDESS/{loud.stem}"].audio_path)
    assert np.abs(samples).max() <= 1.0
    assert _report(out)["corpora"]["RAVDESS"]["audio"]["clipped"] == 1
    assert "1 clipped (samples above full scale" in capsys.readouterr().out


def test_predict_says_a_reason_shared_by_many_files_once(tmp_path, capsys, audio_checkpoint):
    silent = []
    for k in range(5):  # five files no decoder can read: the same reason for each
        path = tmp_path / f"clip{k}.wav"
        path.write_bytes(b"not audio at all")
        silent.append(path)
    assert predict_main([*map(str, silent), "--ckpt", str(audio_checkpoint), "--device", "cpu", "--quiet"]) == 1
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: 5 files ({silent[0]}, {silent[1]}, {silent[2]} and 2 more): ")
    assert lines[0].endswith("Error opening the file: Format not recognised.)") and "clip3" not in lines[0]
