"""Corpora that are there but not as expected: misplaced folders, label files without their media."""

import csv
import json

import pytest

from mer_builder.cli import main
from mer_builder.recipes import meld, ravdess

from .conftest import error_lines, write_ravdess


def test_all_on_a_nested_corpus_names_the_fix_and_downloads_nothing(tmp_path, capsys, monkeypatch):
    # (the folder the official zip unpacks to, RAVDESS/Audio_Speech_Actors_01-24, is used where it lands:
    # test_recipe_ravdess; a folder of another name is misplaced)
    raw, nested = tmp_path / "raw", tmp_path / "raw" / "RAVDESS" / "ravdess_copy"
    nested.parent.mkdir(parents=True)
    (write_ravdess(tmp_path / "unpacked", actors=(1, 2)) / "RAVDESS").rename(nested)

    def no_download(*args, **kwargs):
        raise AssertionError("a misplaced corpus must be moved, not downloaded again")

    monkeypatch.setattr(ravdess, "download", no_download)
    code = main(["all", "--datasets", "ravdess", "--raw_dir", str(raw), "--out_dir", str(tmp_path / "out"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    [line] = error_lines(captured.err)
    assert f"it is one folder deeper, at {nested}: move the contents of that folder up into {raw / 'RAVDESS'}" in line


def _write_meld_csvs(folder, rows_per_split=3):
    """MELD's three label CSVs (official header, UTF-8) and none of its clip folders."""
    folder.mkdir(parents=True)
    for split in meld.SPLITS:
        with (folder / split.csv).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(meld.CSV_HEADER)
            for turn in range(rows_per_split):
                writer.writerow([turn + 1, f"Line {turn} of the scene.", "Ross", "neutral", "neutral", 0, turn, 1, 1,
                                 "00:00:01,000", "00:00:02,500"])  # fmt: skip


@pytest.mark.parametrize("command", ["prepare", "all"])
def test_meld_csvs_without_clips_fail_saying_why_and_how_to_keep_the_text(tmp_path, capsys, command):
    raw, out = tmp_path / "raw", tmp_path / "out"
    _write_meld_csvs(raw / "MELD")
    argv = [command, "--datasets", "meld", "--raw_dir", str(raw), "--out_dir", str(out), "--num_workers", "1"]
    assert main([*argv, "--quiet"]) == 1
    err = capsys.readouterr().err
    [line] = error_lines(err)
    first_clip = raw / "MELD" / "dev_splits_complete" / "dia0_utt0.mp4"
    assert f"error: [MELD] {first_clip}: file not found, and so did all 9 utterances: no record was kept" in line
    assert "--audio_failure replace_with_silence" in line and "prepare this corpus first" not in err
    assert main(["validate", "--datasets", "meld", "--out_dir", str(out)]) == 2
    assert "no records: its last prepare failed (file not found, and so did all 9" in capsys.readouterr().out
    assert main([*argv, "--quiet", "--audio_failure", "replace_with_silence"]) == 0
    report = json.loads((out / "build_report.json").read_text(encoding="utf-8"))
    assert report["corpora"]["MELD"]["records"] == 9
