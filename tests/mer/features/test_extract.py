import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mer.features.cli import extract_main
from mer.features.config import FeatureConfig
from mer.features.extract import ExtractionError, RunOptions, run_extraction
from mer.features.pipeline import FeaturePipeline
from mer.features.safe_pickle import safe_load
from mer.features.store import META_FIELDS, PickleStore, open_feature_store
from mer.features.text import dialogue_contexts
from mer_builder.audio import load_audio, write_wav
from mer_builder.manifest import MANIFEST_NAME, read_manifest, write_manifest

REPO = Path(__file__).resolve().parents[3]


def _run(processed: Path, out: Path, *extra: str) -> int:
    return extract_main(["--processed_dir", str(processed), "--out_dir", str(out), "--quiet", "--num_workers", "1",
                         *extra])  # fmt: skip


def _pickles(out: Path) -> dict[str, Path]:
    return {str(p.relative_to(out)): p for p in sorted(out.rglob("*.pkl"))}


def test_command_writes_pickles_index_and_report_in_the_documented_layout(small_corpus, tmp_path):
    out = tmp_path / "F"
    assert _run(small_corpus, out, "--meld_context_window", "2", "--include_speaker_in_text") == 0
    records = read_manifest(small_corpus / MANIFEST_NAME)
    for record in records:
        item = safe_load(out / record.group / f"{record.id}.pkl")
        assert item["id"] == record.id and item["group"] == record.group and item["true_label"] == record.label
        assert item["speaker_id"] == record.speaker_id and item["emotion"] == record.emotion
        assert item["audio_features"].shape == (160,) and item["audio_features"].dtype == np.float32
        assert item["text_features"].shape == (1536,) and np.isfinite(item["text_features"]).all()
        assert item.get("dialogue_id") == record.dialogue_id and item["notes"] == []
    info = json.loads((out / "feature_info.json").read_text())
    assert info["status"] == "ok" and info["dims"] == {"audio": 160, "text": 1536} and info["failures"] == []
    train_counts = {"rows": 16, "extracted": 16, "skipped_existing": 0, "failed": 0, "no_transcript": 0}
    assert info["counts"]["train"] == train_counts
    assert {g: c["rows"] for g, c in info["counts"].items()} == {"train": 16, "val": 3, "testA": 3, "testB": 4}
    assert info["config"]["text"] == {
        "encoder": {"type": "hashing", "dim": 768, "ngram_range": [1, 2], "norm": "l2"},
        "include_speaker": True,
        "context_window": 2,
    }
    rows = [json.loads(line) for line in (out / "testB" / "index.jsonl").read_text().splitlines()]
    assert [r["path"] for r in rows] == [f"{r.id}.pkl" for r in records if r.group == "testB"]
    first = next(r for r in records if r.group == "testB")
    absent = {"session"} | ({"sentiment"} if getattr(first, "sentiment", None) is None else set())
    assert set(rows[0]) == {"path"} | (set(META_FIELDS) - absent)
    store = open_feature_store(out / "testB")
    assert isinstance(store, PickleStore) and store.dims == info["dims"] and store.feature_config == info["config"]
    assert store.labels.tolist() == [r.label for r in records if r.group == "testB"]


def test_prediction_rebuilds_the_exact_features_from_the_saved_config(small_corpus, tmp_path):
    out = tmp_path / "F"
    assert _run(small_corpus, out, "--meld_context_window", "2", "--n_mfcc", "40") == 0
    pipeline = FeaturePipeline.from_config(json.loads((out / "feature_info.json").read_text())["config"])
    records = read_manifest(small_corpus / MANIFEST_NAME)
    contexts = dialogue_contexts(records, 2)
    record = next(r for r in records if r.id == "MELD/test_dia0_utt10")
    assert len(contexts[record.id]) == 2
    got = pipeline.extract_one(
        small_corpus / record.audio_path, record.text, record.speaker_id, contexts[record.id]
    )  # fmt: skip
    saved = safe_load(out / "testB" / "MELD" / "test_dia0_utt10.pkl")
    # float32 matrix products may round differently for a batch of one: equal to about 1e-7 relative
    np.testing.assert_allclose(got["audio"], saved["audio_features"], rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(got["text"], saved["text_features"])


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_resume_skips_matching_pickles_and_replaces_missing_partial_or_unsafe_ones(small_corpus, tmp_path):
    out = tmp_path / "F"
    assert _run(small_corpus, out) == 0
    pickles = _pickles(out)
    mtimes = {k: p.stat().st_mtime_ns for k, p in pickles.items()}
    gone, partial, crafted = (pickles[k] for k in list(pickles)[:3])
    gone.unlink()
    partial.write_bytes(partial.read_bytes()[:100])
    marker = tmp_path / "code-ran"
    crafted.write_bytes(pickle.dumps({"audio_features": _RunsCode(marker)}))
    assert _run(small_corpus, out) == 0
    assert not marker.exists()
    info = json.loads((out / "feature_info.json").read_text())
    assert sum(c["extracted"] for c in info["counts"].values()) == 3
    assert sum(c["skipped_existing"] for c in info["counts"].values()) == len(pickles) - 3
    for key, path in _pickles(out).items():
        assert safe_load(path)["config_hash"] == info["config_hash"]
        if path not in (gone, partial, crafted):
            assert path.stat().st_mtime_ns == mtimes[key]


def test_resume_redoes_utterances_whose_manifest_entry_or_audio_changed(small_corpus, tmp_path):
    out = tmp_path / "F"
    assert _run(small_corpus, out, "--meld_context_window", "1") == 0
    records = read_manifest(small_corpus / MANIFEST_NAME)
    by_id = {r.id: r for r in records}
    by_id["RAVDESS/03-01-00-01-01-01-01"].emotion, by_id["RAVDESS/03-01-00-01-01-01-01"].label = "fear", 2
    by_id["MELD/train_dia0_utt1"].text = "C'mon, you're going out with the guy!"  # also the context of utt2
    write_manifest(records, small_corpus / MANIFEST_NAME)
    wav = small_corpus / by_id["RAVDESS/03-01-05-01-01-01-02"].audio_path
    write_wav(wav, load_audio(wav)[0][:-800])  # a re-normalised, shorter wav
    assert _run(small_corpus, out, "--meld_context_window", "1") == 0
    info = json.loads((out / "feature_info.json").read_text())
    assert info["counts"]["train"]["extracted"] == 4 and info["counts"]["train"]["skipped_existing"] == 12
    relabelled = open_feature_store(out / "train")
    row = [m["id"] for m in relabelled.meta].index("RAVDESS/03-01-00-01-01-01-01")
    assert (
        relabelled.labels[row] == 2 and safe_load(out / "train" / "RAVDESS/03-01-00-01-01-01-01.pkl")["true_label"] == 2
    )


def test_a_processed_dir_moved_elsewhere_keeps_its_features_reusable(small_corpus, tmp_path):
    import shutil

    out = tmp_path / "F"
    assert _run(small_corpus, out) == 0
    moved = tmp_path / "elsewhere" / "processed"
    shutil.move(small_corpus, moved)  # new absolute paths and (for a copy) new mtimes; the same content
    shutil.copytree(moved, small_corpus)
    shutil.rmtree(moved)
    assert _run(small_corpus, out) == 0
    info = json.loads((out / "feature_info.json").read_text())
    assert info["timing"]["extracted"] == 0 and info["timing"]["skipped_existing"] == 26


def test_a_different_config_is_refused_unless_forced(small_corpus, tmp_path, capsys):
    out = tmp_path / "F"
    assert _run(small_corpus, out) == 0
    assert _run(small_corpus, out, "--n_mfcc", "20") == 1
    assert "different feature config" in capsys.readouterr().err
    assert safe_load(next(iter(_pickles(out).values())))["audio_features"].shape == (160,)
    assert _run(small_corpus, out, "--n_mfcc", "20", "--force", "--splits", "train") == 0
    # the other groups still hold old-config pickles: they lose their index until they are re-extracted
    assert sorted(p.parent.name for p in out.rglob("index.jsonl")) == ["train"]
    info = json.loads((out / "feature_info.json").read_text())
    assert list(info["counts"]) == ["train"] and info["dims"]["audio"] == 40
    assert _run(small_corpus, out, "--n_mfcc", "20", "--splits", "val", "test") == 0
    assert {safe_load(p)["audio_features"].shape for p in _pickles(out).values()} == {(40,)}


def test_groups_can_be_extracted_separately_and_the_report_merges(small_corpus, tmp_path):
    out = tmp_path / "F"
    assert _run(small_corpus, out, "--splits", "train") == 0
    assert sorted(p.name for p in out.iterdir()) == ["feature_info.json", "train"]
    assert _run(small_corpus, out, "--splits", "val", "test") == 0
    info = json.loads((out / "feature_info.json").read_text())
    assert {g: c["rows"] for g, c in info["counts"].items()} == {"train": 16, "val": 3, "testA": 3, "testB": 4}
    assert info["counts"]["train"]["extracted"] == 16  # kept from the first run, not re-counted


def _break_three_inputs(processed: Path) -> dict[str, str]:
    records = read_manifest(processed / MANIFEST_NAME)
    missing, garbage, silent = records[0], records[1], records[2]
    (processed / missing.audio_path).unlink()
    (processed / garbage.audio_path).write_bytes(b"RIFF....WAVEfmt this is not audio")
    (processed / silent.audio_path).write_bytes(b"")
    write_manifest(records, processed / MANIFEST_NAME)
    return {missing.id: "missing_audio", garbage.id: "undecodable_audio", silent.id: "undecodable_audio"}


def test_failures_are_counted_by_reason_and_fail_the_run_above_the_threshold(small_corpus, tmp_path, capsys):
    expected = _break_three_inputs(small_corpus)
    out = tmp_path / "F"
    assert _run(small_corpus, out) == 1
    err = capsys.readouterr().err
    assert "3 of 26 utterances failed" in err and "missing_audio: 1" in err and "feature_info.json" in err
    info = json.loads((out / "feature_info.json").read_text())
    assert info["status"] == "failed" and info["failure_counts"] == {"undecodable_audio": 2, "missing_audio": 1}
    assert {f["id"]: f["reason"] for f in info["failures"]} == expected
    assert all(f["file"].endswith(".wav") and f["message"] for f in info["failures"])
    assert not list(out.rglob("index.jsonl"))
    assert _run(small_corpus, out, "--max_failure_rate", "0.2") == 0
    info = json.loads((out / "feature_info.json").read_text())
    assert info["status"] == "ok" and len(info["failures"]) == 3
    assert sum(c["failed"] for c in info["counts"].values()) == 3
    indexed = [json.loads(line)["id"] for p in out.rglob("index.jsonl") for line in p.read_text().splitlines()]
    assert len(indexed) == 23 and not set(indexed) & set(expected)
    assert not any((out / "train" / f"{i}.pkl").exists() for i in expected)  # never an empty pickle


def test_bad_vectors_and_extractor_errors_are_isolated_to_their_utterance(small_corpus, tmp_path, monkeypatch):
    real_audio = FeaturePipeline.audio_features

    def flaky_audio(self, waveforms):
        if any(len(w) == 12800 for w in waveforms):  # the 12 clips of 0.8 s raise
            if len(waveforms) > 1:
                raise RuntimeError("batch contains a bad clip")
            raise RuntimeError("encoder exploded")
        out = real_audio(self, waveforms)
        out[[len(w) == 9600 for w in waveforms]] = np.nan  # the 4 clips of 0.6 s give NaN
        return out

    monkeypatch.setattr(FeaturePipeline, "audio_features", flaky_audio)
    out = tmp_path / "F"
    assert _run(out.parent / "processed", out, "--max_failure_rate", "1") == 0
    info = json.loads((out / "feature_info.json").read_text())
    assert info["failure_counts"] == {"extraction_error": 12, "non_finite_features": 4}
    assert all("encoder exploded" in f["message"] for f in info["failures"] if f["reason"] == "extraction_error")
    assert sum(c["rows"] for c in info["counts"].values()) == 26 - 16


def test_parallel_workers_write_the_same_features_as_one_process(small_corpus, tmp_path):
    assert _run(small_corpus, tmp_path / "one", "--meld_context_window", "1") == 0
    assert _run(small_corpus, tmp_path / "two", "--meld_context_window", "1", "--num_workers", "2",
                "--chunk_size", "5") == 0  # fmt: skip
    one, two = _pickles(tmp_path / "one"), _pickles(tmp_path / "two")
    assert one.keys() == two.keys()
    for key in one:
        a, b = safe_load(one[key]), safe_load(two[key])
        np.testing.assert_allclose(a["audio_features"], b["audio_features"], rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(a["text_features"], b["text_features"])


def test_unknown_backend_and_missing_manifest_are_clear_errors(small_corpus, tmp_path, capsys):
    assert _run(small_corpus, tmp_path / "F", "--backend", "loky") == 2  # a joblib name from before: usage error
    assert "--backend: invalid choice: 'loky' (choose from" in capsys.readouterr().err
    with pytest.raises(ExtractionError, match="--backend must be one of local, dask, ray"):
        run_extraction(small_corpus, tmp_path / "F", FeatureConfig(), RunOptions(backend="loky"))
    assert _run(tmp_path / "nowhere", tmp_path / "F") == 2  # invalid input
    assert "manifest not found" in capsys.readouterr().err


def test_egemaps_without_opensmile_says_how_to_install_it(small_corpus, tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("opensmile") is not None:
        pytest.skip("opensmile is installed here; the message is for when it is not")
    assert _run(small_corpus, tmp_path / "F", "--audio_features", "mfcc+egemaps") == 1
    err = capsys.readouterr().err
    assert "pip install opensmile" in err and "non-commercial" in err
    assert not (tmp_path / "F").exists()


def test_the_top_level_scripts_run_as_commands(small_corpus, tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "extract_at_features.py"), "--processed_dir", str(small_corpus),
         "--out_dir", str(tmp_path / "F"), "--n_mfcc", "13", "--text_dim", "32", "--splits", "val"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "rows {'val': 3}" in done.stdout and "dims {'audio': 26, 'text': 32}" in done.stdout
    done = subprocess.run(
        [sys.executable, str(REPO / "build_memmap_features.py"), "--in_dir", str(tmp_path / "F" / "val"),
         "--out_dir", str(tmp_path / "M" / "val"), "--quiet"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert open_feature_store(tmp_path / "M" / "val").dims == {"audio": 26, "text": 32}


def test_an_utterance_without_transcript_gets_a_zero_text_block_and_is_counted(small_corpus, tmp_path):
    records = read_manifest(small_corpus / MANIFEST_NAME)
    silent = records[0]
    silent.text = ""  # text is optional for every corpus: no placeholder, no failure
    write_manifest(records, small_corpus / MANIFEST_NAME)
    out = tmp_path / "F"
    assert _run(small_corpus, out) == 0
    info = json.loads((out / "feature_info.json").read_text())
    assert info["n_failed"] == 0 and sum(c["no_transcript"] for c in info["counts"].values()) == 1
    items = {safe_load(p)["id"]: safe_load(p) for p in _pickles(out).values()}
    assert not items[silent.id]["text_features"].any()
    assert all(item["text_features"].any() for i, item in items.items() if i != silent.id)
