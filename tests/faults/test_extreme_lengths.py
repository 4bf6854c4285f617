"""Extreme lengths: a field far beyond any real transcript costs its own row, named at its line, and the
rows after it are kept; it never stops the corpus or is silently truncated. A five-minute clip and a clip of
three samples go through the builder, the extractor and predict.py like any other."""

import csv

import numpy as np
import pytest
import soundfile as sf

from mer.features.cli import extract_main
from mer.features.safe_pickle import safe_load
from mer.prediction.cli import predict_main
from mer.prediction.outputs import timeline_path
from mer_builder.manifest import MANIFEST_NAME, read_manifest

from .conftest import build, error_lines, ravdess_name
from .test_encodings import _parse
from .test_layouts import _write_meld_csvs


def test_a_200_kb_meld_utterance_is_one_counted_problem_and_the_rows_after_it_are_kept(tmp_path):
    corpus = tmp_path / "MELD"
    _write_meld_csvs(corpus, rows_per_split=4)
    train = corpus / "train_sent_emo.csv"
    with train.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[2][1] = "so " * 70_000  # line 3: 210,000 characters, beyond the csv module's field limit
    with train.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    utterances, ctx = _parse(corpus, continue_on_error=True)
    assert ctx.problems == [
        {"dataset": "MELD", "file": f"{train}:3", "reason": "not a CSV record (field larger than field limit (131072))"}
    ]
    kept = sorted(u.native_id for u in utterances if u.split == "train")
    assert kept == ["train_dia0_utt0", "train_dia0_utt2", "train_dia0_utt3"]
    assert len(utterances) == 11 and all(len(u.text) < 100 for u in utterances)


LONG_S = 300.0  # five minutes: 14.4 M samples at 48 kHz


def test_a_five_minute_clip_is_built_extracted_and_predicted_as_a_timeline(
    ravdess_raw, tmp_path, capsys, audio_checkpoint
):
    """Far beyond any corpus utterance: one pass over the whole clip for MFCCs (no cut, no failure), and a
    timeline of windows in predict.py whose file row is their mean."""
    long = ravdess_raw / "RAVDESS" / "Actor_01" / f"{ravdess_name(1, '05')}.wav"
    clip, sr = sf.read(long, dtype="int16")
    sf.write(long, np.tile(clip, round(LONG_S * sr / len(clip))), sr, subtype="PCM_16")
    processed, features = tmp_path / "P", tmp_path / "F"
    assert build(ravdess_raw, processed) == 0
    [record] = [r for r in read_manifest(processed / MANIFEST_NAME) if r.id == f"RAVDESS/{long.stem}"]
    assert record.duration_s == pytest.approx(LONG_S, abs=0.01)

    argv = ["--processed_dir", str(processed), "--out_dir", str(features), "--n_mfcc", "20", "--num_workers", "1"]
    assert extract_main([*argv, "--quiet"]) == 0
    assert len(list(features.rglob("*.pkl"))) == 24
    [pickle] = features.rglob(f"{long.stem}.pkl")
    audio = safe_load(pickle)["audio_features"]
    assert audio.shape == (40,) and np.isfinite(audio).all() and audio[20:].max() > 0  # mean and std of 20 MFCCs

    wav, preds = processed / record.audio_path, tmp_path / "preds.csv"
    argv = [str(wav), "--ckpt", str(audio_checkpoint), "--device", "cpu", "--output", str(preds), "--quiet"]
    assert predict_main([*argv, "--window_s", "3"]) == 0
    assert error_lines(capsys.readouterr().err) == []
    [row] = _csv(preds)
    assert row["status"] == "ok" and float(row["duration_s"]) == pytest.approx(LONG_S, abs=0.01)
    windows = _csv(timeline_path(preds))
    assert len(windows) == 100 and float(windows[-1]["end_s"]) == pytest.approx(LONG_S, abs=0.01)
    for column in (c for c in row if c.startswith("p_")):
        assert float(row[column]) == pytest.approx(np.mean([float(w[column]) for w in windows]), abs=1e-5)


def test_a_clip_of_a_few_samples_is_built_and_gets_finite_features(ravdess_raw, tmp_path, capsys):
    """Short of one MFCC frame (3 samples once resampled to 16 kHz): built, and extracted without failing."""
    short = ravdess_raw / "RAVDESS" / "Actor_02" / f"{ravdess_name(2, '04')}.wav"
    sf.write(short, np.full(9, 1000, dtype=np.int16), 48000, subtype="PCM_16")
    processed, features = tmp_path / "P", tmp_path / "F"
    assert build(ravdess_raw, processed) == 0
    argv = ["--processed_dir", str(processed), "--out_dir", str(features), "--n_mfcc", "20", "--num_workers", "1"]
    assert extract_main([*argv, "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    [record] = [r for r in read_manifest(processed / MANIFEST_NAME) if r.id == f"RAVDESS/{short.stem}"]
    assert sf.info(processed / record.audio_path).frames == 3 and record.duration_s == pytest.approx(0.0002)
    [pickle] = features.rglob(f"{short.stem}.pkl")
    audio = safe_load(pickle)["audio_features"]
    assert audio.shape == (40,) and np.isfinite(audio).all()
    assert np.abs(audio[20:]).max() == 0  # one (padded) frame: the std of each coefficient is 0


def _csv(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
