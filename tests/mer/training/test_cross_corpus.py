"""The cross-corpus command: LOCO over every corpus plus the train-on-A/test-on-B matrix, as md, CSV and PNG."""

import csv
import io
from pathlib import Path

import pytest

from mer.commands import cross_corpus_main
from mer.cross_corpus import LOCO_COLUMN
from mer.protocols import Rows, make_folds

REPO = Path(__file__).resolve().parents[3]
FAST = ["model.hidden_dim=16", "training.epochs=2", "training.num_threads=1", "training.warmup_epochs=0",
        "training.early_stopping.patience=null", "data.modalities=[T]"]  # fmt: skip


def test_pairwise_folds_train_on_one_corpus_and_report_every_corpus(synth):
    meta = synth.rows(per_group=10)
    rows = Rows.from_meta(meta, [m["group"] for m in meta])
    folds = make_folds("pairwise", rows)
    assert [f.name for f in folds] == ["train_CREMA-D", "train_MELD", "train_RAVDESS"]
    for fold in folds:
        corpus = fold.name.removeprefix("train_")
        assert set(rows.dataset[fold.train]) == set(rows.dataset[fold.val]) == {corpus}
        assert set(fold.report) == {"CREMA-D", "MELD", "RAVDESS"}
        assert set(rows.group[fold.report[corpus]]) <= {"testA", "testB"}  # its own test split only
        assert len(fold.report[next(c for c in fold.report if c != corpus)]) == 30  # all rows of another corpus


@pytest.mark.slow
def test_one_command_writes_the_matrix_and_the_loco_column(synth, tmp_path, capsys):
    corpora = {
        "RAVDESS": (("train", "val", "testA"), (0, 1, 2, 3)),
        "CREMA-D": (("train", "val", "testA"), (0, 1, 2, 3)),
        "ESD": (("train",), (0, 3, 4, 5)),  # one speaker, train-only: its own folds are skipped, not the sweep
    }
    root = synth.write_root(tmp_path / "M", per_group=24, corpora=corpora)
    argv = ["--config", str(REPO / "configs" / "loco.yaml"), "--quiet", "--set", f"data.features_dir={root}",
            f"experiment.output_dir={tmp_path / 'runs'}", *FAST]  # fmt: skip
    assert cross_corpus_main(argv) == 0
    out = tmp_path / "runs" / "cross_corpus"
    captured = capsys.readouterr()
    assert "| train \\ test |" in captured.out and "wrote " in captured.out
    assert "warning: train_ESD skipped: its training corpora (ESD) have no validation rows" in captured.err
    table = (out / "cross_corpus.md").read_text()
    assert "| train \\ test | CREMA-D | ESD | RAVDESS |" in table and f"**{LOCO_COLUMN}**" in table
    assert "python cross_corpus.py --config" in table
    rows = list(csv.DictReader(io.StringIO((out / "cross_corpus.csv").read_text())))
    pairs = {(r["protocol"], r["train"], r["test"]) for r in rows}
    assert {("pairwise", a, b) for a in ("CREMA-D", "RAVDESS") for b in ("CREMA-D", "ESD", "RAVDESS")} <= pairs
    assert not any(r["train"] == "ESD" for r in rows)  # trained on ESD alone: no model selection possible
    assert {("loco", "all others", c) for c in ("CREMA-D", "ESD", "RAVDESS")} <= pairs
    assert all(0 <= float(r["uar_mean"]) <= 1 for r in rows)
    assert (out / "cross_corpus.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = (out / "loco" / "loco_ESD" / "seed1" / "checkpoints" / "best.pt").stat().st_mtime_ns
    assert cross_corpus_main(argv) == 0  # a second run resumes: finished folds are not trained again
    assert (out / "loco" / "loco_ESD" / "seed1" / "checkpoints" / "best.pt").stat().st_mtime_ns == before
