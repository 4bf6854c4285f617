"""Tampered manifests and feature stores: refused before any work, naming the file, the line and the field."""

import json
import pickle

import numpy as np
import pytest

from mer.commands import evaluate_main, train_main
from mer.features.cli import extract_main, memmap_main
from mer_builder.cli import main as builder_main
from mer_builder.manifest import MANIFEST_NAME, ManifestError, read_manifest

from .conftest import error_lines


def _lines(processed):
    return (processed / MANIFEST_NAME).read_text(encoding="utf-8").splitlines(keepends=True)


def _tamper(processed, number: int, **fields) -> str:
    """Set `fields` on manifest line `number` (1-based); returns that record's id."""
    lines = _lines(processed)
    record = json.loads(lines[number - 1])
    record.update(fields)
    lines[number - 1] = json.dumps(record) + "\n"
    (processed / MANIFEST_NAME).write_text("".join(lines), encoding="utf-8")
    return record["id"]


def _refused_everywhere(processed, tmp_path, capsys, expected: str) -> None:
    """validate lists it, and the extractor refuses it before writing anything (both exit 2: invalid input)."""
    assert builder_main(["validate", "--out_dir", str(processed)]) == 2
    assert expected in capsys.readouterr().out
    out = tmp_path / "F"
    assert extract_main(["--processed_dir", str(processed), "--out_dir", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    [line] = error_lines(captured.err)
    assert line.startswith(f"error: {processed / MANIFEST_NAME}:") and expected in line
    assert "Traceback" not in captured.err and not out.exists()


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"label": 7, "emotion": "contempt"}, "label 7 is outside 0..6"),
        ({"label": 5}, "label 5 does not match emotion 'neutral'"),
        ({"id": "RAVDESS/../../x"}, "id 'RAVDESS/../../x' is a path with '..'"),
        ({"audio_path": "/etc/passwd"}, "audio_path '/etc/passwd' is an absolute path: it is not inside"),
        ({"audio_path": "audio/../../secret.wav"}, "audio_path 'audio/../../secret.wav' is a path with '..'"),
        ({"duration_s": "1.0"}, 'duration_s is "1.0", expected a number'),
        ({"text": None}, "text is null, expected a string"),
        ({"speaker_id": None}, "speaker_id is null, expected a string"),
        ({"label": True}, "label is true, expected a whole number"),
        ({"notes": "read me"}, 'notes is "read me", expected a list'),
    ],
)
def test_a_tampered_record_is_refused_naming_line_and_field(built, tmp_path, capsys, fields, expected):
    _tamper(built, 3, **fields)
    _refused_everywhere(built, tmp_path, capsys, expected)
    with pytest.raises(ManifestError, match=rf"^{built / MANIFEST_NAME}:3: "):
        read_manifest(built / MANIFEST_NAME)


def test_a_duplicated_line_is_refused_naming_both_lines(built, tmp_path, capsys):
    lines = _lines(built)
    (built / MANIFEST_NAME).write_text("".join([*lines[:5], lines[2], *lines[5:]]), encoding="utf-8")
    record_id = json.loads(lines[2])["id"]
    _refused_everywhere(built, tmp_path, capsys, f"duplicate id '{record_id}' (also on line 3)")


def test_a_byte_that_is_not_utf8_is_named_with_its_line_and_file_offset(built, tmp_path, capsys):
    data = (built / MANIFEST_NAME).read_bytes()
    line_start = data.index(b"\n", data.index(b"\n") + 1) + 1  # line 3
    bad = line_start + data[line_start:].index(b'"text": "') + 9
    (built / MANIFEST_NAME).write_bytes(data[:bad] + b"\xe9" + data[bad + 1 :])
    _refused_everywhere(built, tmp_path, capsys, f"not valid UTF-8 (invalid continuation byte 0xe9 at byte {bad} of")


def test_a_checked_manifest_reads_every_record(built):
    records = read_manifest(built / MANIFEST_NAME)
    assert len(records) == 24 and len({r.id for r in records}) == 24


# ---------------------------------------------------------------- feature stores


def _pack(features, tmp_path, group="train"):
    out = tmp_path / "M" / group
    assert memmap_main(["--in_dir", str(features / group), "--out_dir", str(out), "--quiet"]) == 0
    return out


def _evaluate(checkpoint, store, tmp_path, capsys) -> str:
    argv = ["--ckpt", str(checkpoint), "--set", f"data.eval_dir={store}", "--output_dir", str(tmp_path / "eval")]
    assert evaluate_main([*argv, "--quiet"]) == 2
    captured = capsys.readouterr()
    [line] = error_lines(captured.err)
    assert "Traceback" not in captured.err and not (tmp_path / "eval" / "metrics_eval.json").exists()
    return line


def test_a_memmap_store_with_a_label_outside_the_space_is_refused(features, tmp_path, capsys, audio_checkpoint):
    store = _pack(features, tmp_path)
    labels = np.load(store / "labels.npy")
    labels[4] = 7
    np.save(store / "labels.npy", labels)
    line = _evaluate(audio_checkpoint, store, tmp_path, capsys)
    assert line.startswith(f"error: {store / 'labels.npy'}: row 5 (") and "has label 7, outside 0..6" in line


def test_a_duplicated_index_row_is_refused_by_every_reader(features, tmp_path, capsys, audio_checkpoint):
    index = features / "train" / "index.jsonl"
    lines = index.read_text(encoding="utf-8").splitlines(keepends=True)
    index.write_text("".join([*lines, lines[0]]), encoding="utf-8")
    record_id = json.loads(lines[0])["id"]
    expected = f"{index}: id '{record_id}' is on rows 1 and {len(lines) + 1}; ids must be unique"
    assert f"error: {expected}" == _evaluate(audio_checkpoint, features / "train", tmp_path, capsys)
    assert memmap_main(["--in_dir", str(features / "train"), "--out_dir", str(tmp_path / "M"), "--quiet"]) == 2
    assert error_lines(capsys.readouterr().err) == [f"error: {expected}"]


def test_a_pickle_relabelled_outside_the_space_is_not_packed(features, tmp_path, capsys):
    row = json.loads((features / "train" / "index.jsonl").read_text(encoding="utf-8").splitlines()[2])
    path = features / "train" / row["path"]
    item = pickle.loads(path.read_bytes())
    path.write_bytes(pickle.dumps({**item, "true_label": 9}))
    assert memmap_main(["--in_dir", str(features / "train"), "--out_dir", str(tmp_path / "M"), "--quiet"]) == 2
    assert error_lines(capsys.readouterr().err) == [f"error: {path}: true_label 9 is not a class index 0..6"]
    assert not (tmp_path / "M").exists()


class _RunsCode:
    def __reduce__(self):
        return (print, ("this pickle ran code",))


def test_training_on_a_pickle_that_would_run_code_stops_with_one_line(features, tmp_path, capsys):
    row = json.loads((features / "train" / "index.jsonl").read_text(encoding="utf-8").splitlines()[0])
    path = features / "train" / row["path"]
    path.write_bytes(pickle.dumps({"id": row["id"], "audio_features": _RunsCode()}))
    sets = [f"data.features_dir={features}", f"experiment.output_dir={tmp_path / 'runs'}", "training.epochs=1"]
    assert train_main(["--run_name", "r", "--quiet", "--set", *sets]) == 2
    captured = capsys.readouterr()
    assert "this pickle ran code" not in captured.out + captured.err and "Traceback" not in captured.err
    assert error_lines(captured.err) == [
        f"error: {path}: refused to load builtins.print; feature pickles may only hold dicts, lists, tuples, "
        "strings, numbers and numpy arrays"
    ]


def test_a_text_file_given_as_checkpoint_is_one_line_without_torchs_advice(tmp_path, capsys):
    text = tmp_path / "notes.pt"
    text.write_text("these are my notes, not a model\n", encoding="utf-8")
    argv = ["--ckpt", str(text), "--output_dir", str(tmp_path / "eval"), "--quiet"]
    assert evaluate_main(argv) == 2
    captured = capsys.readouterr()
    [line] = error_lines(captured.err)
    assert line.startswith(f"error: {text}: not a torch checkpoint; pass the best.pt or last.pt that train.py wrote")
    assert "weights_only" not in captured.err and "Traceback" not in captured.err
