"""`data.label_type: sentiment` end to end on the demo corpus: training, checkpoint, evaluation files,
results table, evaluate.py and prediction all speak the three sentiment classes."""

import csv
import json
from pathlib import Path

import pytest
import torch

from mer import Predictor
from mer.commands import evaluate_main, train_main
from mer.evaluation import evaluate_checkpoint
from mer.features.store import open_feature_store
from mer.training.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from mer_builder.labels import EMOTIONS, SENTIMENTS

REPO = Path(__file__).resolve().parents[3]
SETS = [
    "data.label_type=sentiment",
    "model.hidden_dim=32",
    "training.epochs=8",
    "training.batch_size=16",
    "training.lr=3e-3",
    "training.warmup_epochs=0",
    "training.num_threads=1",
    "training.early_stopping.patience=null",
]


def _one_row(checkpoint):
    return ({m: torch.zeros(1, d) for m, d in checkpoint["dims"].items()},)


@pytest.fixture(scope="module")
def sentiment_run(demo_features, tmp_path_factory):
    out = tmp_path_factory.mktemp("sentiment")
    argv = ["--config", str(REPO / "configs" / "mer_builder_at_simple.yaml"), "--run_name", "s", "--quiet"]
    sets = [f"data.features_dir={demo_features}", f"experiment.output_dir={out}", *SETS]
    assert train_main([*argv, "--set", *sets]) == 0
    return out / "s"


def test_a_sentiment_run_trains_on_the_rated_corpus_and_reports_three_classes(sentiment_run):
    unit = sentiment_run / "seed1"
    checkpoint = load_checkpoint(unit / "checkpoints" / "best.pt")
    assert checkpoint["label_type"] == "sentiment" and checkpoint["labels"] == list(SENTIMENTS)
    assert model_from_checkpoint(checkpoint)(*_one_row(checkpoint)).shape == (1, 3)  # strict load: 3 logits
    # RAVDESS rates no sentiment: only MELD's test group is reported
    assert sorted(p.name for p in (unit / "eval").iterdir()) == ["testB"]
    metrics = json.loads((unit / "eval" / "testB" / "metrics_eval.json").read_text())
    assert metrics["label_type"] == "sentiment" and metrics["labels"] == list(SENTIMENTS)
    assert len(metrics["confusion_matrix"]) == 3 and all(len(row) == 3 for row in metrics["confusion_matrix"])
    # the demo's sentiment follows its emotion, which its phrases and tones carry: chance UAR is 1/3
    assert metrics["uar"] > 0.6, metrics["uar"]
    with (unit / "eval" / "testB" / "predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["true"] for r in rows} <= set(SENTIMENTS) and {r["pred"] for r in rows} <= set(SENTIMENTS)
    assert [c for c in rows[0] if c.startswith("p_")] == [f"p_{s}" for s in SENTIMENTS]
    header = (unit / "eval" / "testB" / "confusion_matrix.csv").read_text().splitlines()[0]
    assert header == "true,negative,neutral,positive"
    assert (unit / "eval" / "testB" / "confusion_matrix.png").is_file() and (unit / "plots" / "uar.png").is_file()
    assert "| testB (sentiment) |" in (sentiment_run / "results.md").read_text()
    assert ",sentiment," in (sentiment_run / "results.csv").read_text().splitlines()[1]


def test_evaluate_py_reads_the_sentiment_of_the_eval_dir_and_leaves_out_unrated_rows(
    sentiment_run, demo_features, tmp_path, capsys
):
    ckpt = str(sentiment_run / "seed1" / "checkpoints" / "best.pt")
    out = tmp_path / "eval"
    assert evaluate_main(["--ckpt", ckpt, "--out_dir", str(out), "--set", f"data.eval_dir={demo_features}/testB"]) == 0
    again = json.loads((out / "metrics_eval.json").read_text())
    first = json.loads((sentiment_run / "seed1" / "eval" / "testB" / "metrics_eval.json").read_text())
    assert again["labels"] == list(SENTIMENTS) and again["weighted_f1"] == pytest.approx(first["weighted_f1"])
    # testA holds RAVDESS only, which rates no sentiment: a clear one-line error
    code = evaluate_main(
        ["--ckpt", ckpt, "--out_dir", str(tmp_path / "a"), "--set", f"data.eval_dir={demo_features}/testA"]
    )
    assert code != 0
    assert "no row has a sentiment label" in capsys.readouterr().err
    # a store opened with emotion labels does not fit a sentiment model
    with pytest.raises(CheckpointError, match=r"predicts sentiment but .* emotion labels"):
        evaluate_checkpoint(
            load_checkpoint(ckpt),
            open_feature_store(demo_features / "testB"),
            tmp_path / "x",
            "testB",
            ckpt,
            8,
            torch.device("cpu"),
        )


def test_predictions_use_the_checkpoints_label_names(sentiment_run, demo_features):
    processed = demo_features.parent / "processed"
    record = next(
        r
        for r in map(json.loads, (processed / "meta_manifest.jsonl").read_text().splitlines())
        if r["dataset"] == "MELD"
    )
    predictor = Predictor.from_checkpoint(sentiment_run / "seed1" / "checkpoints" / "best.pt", device="cpu")
    assert predictor.labels == list(SENTIMENTS)
    (result,) = predictor.predict([processed / record["audio_path"]], texts=[record["text"]])
    assert result.ok and result.label in SENTIMENTS and set(result.probabilities) == set(SENTIMENTS)
    assert not set(result.probabilities) & (set(EMOTIONS) - set(SENTIMENTS))
