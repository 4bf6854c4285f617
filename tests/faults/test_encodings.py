"""Encodings: a byte that is not UTF-8 costs its own row, is reported at its true line and file offset, and
every good row after it is kept."""

import json
import shutil

import pytest

from mer.prediction.cli import predict_main
from mer_builder.cli import main as builder_main
from mer_builder.manifest import MANIFEST_NAME, read_manifest
from mer_builder.recipes import meld
from mer_builder.recipes.common import CorpusError, ParseContext

from .conftest import error_lines
from .test_layouts import _write_meld_csvs


def _line_start(data: bytes, number: int) -> int:
    """Byte offset of line `number` (1-based)."""
    start = 0
    for _ in range(number - 1):
        start = data.index(b"\n", start) + 1
    return start


def _parse(corpus, **options):
    ctx = ParseContext(meld.CORPUS, **options)
    return list(meld.parse(corpus, ctx)), ctx


@pytest.mark.real_data
def test_a_bad_byte_on_line_5001_of_the_real_meld_train_csv_costs_that_row_alone(real_corpus, tmp_path):
    corpus = tmp_path / "MELD"
    corpus.mkdir()
    for split in meld.SPLITS:
        shutil.copy(real_corpus("MELD") / split.csv, corpus / split.csv)
    clean, _ = _parse(corpus)
    train = corpus / "train_sent_emo.csv"
    data = train.read_bytes()
    bad = _line_start(data, 5001) + 10
    train.write_bytes(data[:bad] + b"\xff" + data[bad + 1 :])
    reason = f"not valid UTF-8 (invalid start byte 0xff at byte {bad} of the file); MELD's CSVs are UTF-8"
    assert bad > 500_000

    with pytest.raises(CorpusError) as caught:
        _parse(corpus)
    assert str(caught.value) == f"[MELD] {train}:5001: {reason}"

    utterances, ctx = _parse(corpus, continue_on_error=True)
    assert ctx.problems == [{"dataset": "MELD", "file": f"{train}:5001", "reason": reason}]
    lost = {u.id for u in clean} - {u.id for u in utterances}
    assert len(utterances) == len(clean) - 1 and len(lost) == 1  # the rows after it are all kept
    assert utterances[-1].id == clean[-1].id


def test_each_unreadable_row_is_its_own_counted_problem_through_prepare(tmp_path, capsys):
    raw, out = tmp_path / "raw", tmp_path / "out"
    _write_meld_csvs(raw / "MELD", rows_per_split=4)
    dev = raw / "MELD" / "dev_sent_emo.csv"
    data = dev.read_bytes()
    for number in (3, 5):  # two of the four rows
        at = _line_start(data, number) + 4
        data = data[:at] + b"\x92" + data[at + 1 :]  # a Windows-1252 apostrophe
    dev.write_bytes(data)
    argv = ["prepare", "--datasets", "meld", "--raw_dir", str(raw), "--out_dir", str(out), "--num_workers", "1"]
    assert builder_main([*argv, "--audio_failure", "replace_with_silence", "--continue_on_error", "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "MELD: 10 records" in captured.out and "2 problems" in captured.out
    report = json.loads((out / "build_report.json").read_text(encoding="utf-8"))
    assert [p["file"] for p in report["problems"]] == [f"{dev}:3", f"{dev}:5"]
    assert all(p["reason"].startswith("not valid UTF-8 (invalid start byte 0x92 at byte") for p in report["problems"])
    kept = {r.id for r in read_manifest(out / MANIFEST_NAME) if r.split == "val"}
    assert kept == {"MELD/dev_dia0_utt0", "MELD/dev_dia0_utt2"}
    [line] = error_lines(captured.err)
    assert line.startswith(f"error: [MELD] {dev}:3: not valid UTF-8") and "(2 problems; all in" in line


def test_a_transcripts_csv_that_is_not_utf8_is_named_with_line_and_offset(tmp_path, capsys, audio_checkpoint):
    transcripts = tmp_path / "t.csv"
    transcripts.write_bytes(b"path,text\na.wav,fine\nb.wav,caf\xe9 au lait\n")
    argv = ["--transcripts", str(transcripts), "--ckpt", str(audio_checkpoint)]
    assert predict_main(argv) == 2
    captured = capsys.readouterr()
    assert error_lines(captured.err) == [
        f"error: {transcripts}:3: not valid UTF-8 (invalid continuation byte 0xe9 at byte 30 of the file); "
        "save the CSV as UTF-8"
    ]
