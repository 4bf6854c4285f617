import json
import logging

import numpy as np
import pytest
import torch

from mer.commands import evaluate_main, train_main
from mer.config import load_config, validate
from mer.experiment import run_experiment
from mer.training.checkpoint import CheckpointError, load_checkpoint, load_state_strict, model_from_checkpoint
from mer_builder.labels import EMOTIONS


def _train(synth, features, out, *extra, name="run", sets=()):
    return train_main(["--run_name", name, "--quiet", *extra, "--set", *synth.sets(features, out, **dict(sets))])


def _eval_metrics(run_dir, group, seed=1):
    return json.loads((run_dir / f"seed{seed}" / "eval" / group / "metrics_eval.json").read_text())


def test_learning_happens_when_the_label_is_in_one_modality(synth, features_root, tmp_path):
    assert _train(synth, features_root, tmp_path, name="at") == 0
    assert _train(synth, features_root, tmp_path, "--modalities", "A", name="audio_only") == 0
    for group in ("testA", "testB"):
        assert _eval_metrics(tmp_path / "at", group)["uar"] > 0.85
        # the audio carries no label information: chance level is 1/7 (1/6 for CREMA-D)
        assert _eval_metrics(tmp_path / "audio_only", group)["uar"] < 0.35
    run = tmp_path / "at" / "seed1"
    for name in ("metrics_train.csv", "metrics_val.csv", "plots/loss.png", "plots/uar.png", "plots/wf1.png"):
        assert (run / name).is_file()
    assert (tmp_path / "at" / "config_resolved.yaml").is_file() and (tmp_path / "at" / "results.md").is_file()
    header = (run / "metrics_val.csv").read_text().splitlines()[0]
    assert header == "epoch,loss,acc,macro_f1,weighted_f1,uar,seconds"


def test_same_seed_gives_identical_results_and_another_seed_does_not(synth, features_root, tmp_path):
    sets = {"training.modality_dropout": 0.3, "training.feature_noise": 0.1, "training.ema_decay": 0.9}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert _train(synth, features_root, tmp_path, "--seeds", str(seed), name=name, sets=sets) == 0

    def numbers(name, seed):
        val = np.loadtxt(tmp_path / name / f"seed{seed}" / "metrics_val.csv", delimiter=",", skiprows=1)
        return val[:, :-1]  # all but the seconds column

    np.testing.assert_array_equal(numbers("a", 1), numbers("b", 1))
    assert not np.array_equal(numbers("a", 1), numbers("c", 2))
    a, b = (_eval_metrics(tmp_path / n, "testA") for n in ("a", "b"))
    assert a["confusion_matrix"] == b["confusion_matrix"] and a["uar"] == b["uar"]


@pytest.mark.parametrize("distill", [{}, {"training.distill.teacher": "text"}], ids=["plain", "distill"])
def test_an_interrupted_run_resumes_to_the_same_result(synth, features_root, tmp_path, distill):
    sets = synth.sets(
        features_root,
        tmp_path,
        **{"training.epochs": 5, "training.modality_dropout": 0.2, "training.feature_noise": 0.1, **distill},
    )
    config = validate(load_config(None, ["experiment.name=whole", *sets]))
    run_experiment(config, quiet=True)

    class StopAfterTwo(logging.Handler):  # Ctrl-C right after epoch 2's log line
        def emit(self, record):
            if "epoch   2" in record.getMessage():
                raise KeyboardInterrupt

    config["experiment"]["name"] = "cut"
    trainer_log, stopper = logging.getLogger("mer.training.trainer"), StopAfterTwo()
    trainer_log.addHandler(stopper)
    trainer_log.setLevel(logging.INFO)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_experiment(config, quiet=True)
    finally:
        trainer_log.removeHandler(stopper)
        trainer_log.setLevel(logging.NOTSET)
    assert load_checkpoint(tmp_path / "cut/seed1/checkpoints/last.pt")["train_state"]["epoch"] == 2
    run_experiment(config, resume=True, quiet=True)
    whole, cut = (tmp_path / n / "seed1" for n in ("whole", "cut"))

    def strip_seconds(path):
        return [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]

    assert strip_seconds(whole / "metrics_val.csv") == strip_seconds(cut / "metrics_val.csv")
    state_whole = load_checkpoint(whole / "checkpoints/best.pt")["model_state"]
    state_cut = load_checkpoint(cut / "checkpoints/best.pt")["model_state"]
    assert all(torch.equal(state_whole[k], state_cut[k]) for k in state_whole)


def test_run_folder_is_never_silently_replaced(synth, features_root, tmp_path, capsys):
    assert _train(synth, features_root, tmp_path) == 0
    assert _train(synth, features_root, tmp_path) == 2
    assert "run folder exists; pass --resume" in capsys.readouterr().err
    assert _train(synth, features_root, tmp_path, "--resume", sets={"model.hidden_dim": 64}) == 2
    assert "changed keys: ['model.hidden_dim']" in capsys.readouterr().err
    (tmp_path / "run" / "seed1" / "marker").write_text("old")
    assert _train(synth, features_root, tmp_path, "--overwrite") == 0
    assert not (tmp_path / "run" / "seed1" / "marker").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("user data")
    assert _train(synth, features_root, tmp_path, "--overwrite", name="mine") == 2
    assert "not a mer run" in capsys.readouterr().err and (foreign / "notes.txt").is_file()


def test_checkpoint_round_trip_carries_what_prediction_needs(synth, features_root, tmp_path):
    assert _train(synth, features_root, tmp_path) == 0
    path = tmp_path / "run" / "seed1" / "checkpoints" / "best.pt"
    torch.load(path, weights_only=True)  # loads with no code execution
    checkpoint = load_checkpoint(path)
    assert checkpoint["labels"] == list(EMOTIONS)
    assert checkpoint["dims"] == {"audio": 12, "text": 16} and checkpoint["modalities"] == ["audio", "text"]
    assert checkpoint["feature_config"] == {
        "audio": {"kind": "synthetic", "dim": 12},
        "text": {"kind": "synthetic", "dim": 16},
    }
    assert checkpoint["model_config"]["name"] == "flexible_at" and checkpoint["seed"] == 1
    assert set(checkpoint["versions"]) == {"mer", "torch", "numpy", "python"}
    assert "train_state" not in checkpoint and "train_state" in load_checkpoint(path.with_name("last.pt"))

    model = model_from_checkpoint(checkpoint)
    from mer.features.store import open_feature_store

    store = open_feature_store(features_root / "testB")
    batch = store.batch(np.arange(len(store)))
    with torch.no_grad():
        logits = model({m: torch.from_numpy(batch[m]) for m in model.modalities})
    predictions = (tmp_path / "run/seed1/eval/testB/predictions.csv").read_text().splitlines()[1:]
    assert [line.split(",")[3] for line in predictions] == [EMOTIONS[i] for i in logits.argmax(1).tolist()]


def test_only_the_chosen_modalities_are_standardised(synth, features_root, tmp_path):
    assert _train(synth, features_root, tmp_path, sets={"model.standardize": "[A]", "training.epochs": 1}) == 0
    state = load_checkpoint(tmp_path / "run/seed1/checkpoints/best.pt")["model_state"]
    assert state["encoders.audio.mean"].abs().mean() > 1.0  # the fixture's features are centred at +2
    assert torch.equal(state["encoders.text.mean"], torch.zeros(16))
    assert torch.equal(state["encoders.text.inv_std"], torch.ones(16))


def test_mismatched_weights_name_keys_and_dims(synth, features_root, tmp_path):
    assert _train(synth, features_root, tmp_path) == 0
    checkpoint = load_checkpoint(tmp_path / "run/seed1/checkpoints/best.pt")
    from mer.models import build_model

    other = build_model(checkpoint["model_config"], ["audio", "text"], {"audio": 20, "text": 16}, 7)
    with pytest.raises(
        CheckpointError, match=r"feature dims expected \{'audio': 20, 'text': 16\}, found \{'audio': 12"
    ):
        load_state_strict(other, checkpoint["model_state"])
    text_only = build_model(checkpoint["model_config"], ["text"], {"text": 16}, 7)
    with pytest.raises(CheckpointError, match=r"unexpected keys \['encoders.audio"):
        load_state_strict(text_only, checkpoint["model_state"])
    bad = tmp_path / "bad.pt"
    torch.save({"format": "mer-checkpoint", "evil": np.zeros(2).dtype}, bad)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(bad)


def test_evaluate_on_a_folder_it_did_not_train_on(synth, features_root, tmp_path, capsys):
    assert _train(synth, features_root, tmp_path, sets={"evaluation.test": False}) == 0
    assert not (tmp_path / "run" / "seed1" / "eval").exists()
    other = synth.write_root(tmp_path / "other", per_group=15, seed=7, fmt="pickle")  # new rows, pickle format
    ckpt = str(tmp_path / "run/seed1/checkpoints/best.pt")
    out = tmp_path / "elsewhere"
    argv = ["--ckpt", ckpt, "--set", f"data.eval_dir={other / 'testA'}", "--output_dir", str(out), "--quiet"]
    assert evaluate_main(argv) == 0
    metrics = json.loads((out / "metrics_eval.json").read_text())
    assert metrics["eval_set"] == "testA" and metrics["n"] == 30 and metrics["uar"] > 0.8
    assert metrics["checkpoint"] == ckpt and metrics["eval_dir"] == str(other / "testA")
    assert set(metrics["per_corpus"]) == {"RAVDESS", "CREMA-D"}
    assert metrics["per_corpus"]["CREMA-D"]["classes_absent"] == ["surprise"]
    for name in ("per_corpus.csv", "confusion_matrix.csv", "confusion_matrix.png", "predictions.csv"):
        assert (out / name).is_file()
    assert not (tmp_path / "run" / "seed1" / "eval").exists()  # nothing written into the run folder
    assert evaluate_main(argv) == 2 and "--overwrite" in capsys.readouterr().err

    wrong = tmp_path / "wrong"
    synth.write_root(wrong, dims={"audio": 9, "text": 16}, per_group=5)
    argv = ["--ckpt", ckpt, "--set", f"data.eval_dir={wrong / 'val'}", "--output_dir", str(tmp_path / "w")]
    assert evaluate_main(argv) == 2
    assert "feature dims do not match the checkpoint: audio expected 12-d found 9-d" in capsys.readouterr().err


@pytest.mark.slow
def test_loco_and_loso_report_per_fold_and_the_mean_over_folds(synth, tmp_path):
    root = synth.write_root(tmp_path / "f", per_group=24, iemocap=True)
    sets = {"training.epochs": 2}
    assert _train(synth, root, tmp_path, "--config", "configs/loco.yaml", name="loco", sets=sets) == 0
    table = (tmp_path / "loco" / "results.md").read_text()
    for corpus in ("CREMA-D", "IEMOCAP", "MELD", "RAVDESS"):
        metrics = json.loads((tmp_path / f"loco/loco_{corpus}/seed1/eval/{corpus}/metrics_eval.json").read_text())
        assert set(metrics["per_corpus"]) == {corpus}
        assert f"| loco | loco | loco_{corpus} | {corpus} |" in table
    assert "| mean over folds | 4 folds |" in table
    assert "disgust, fear, surprise" in table  # IEMOCAP's absent classes are listed, not averaged in

    sets["experiment.seeds"] = "[1,2]"
    assert _train(synth, root, tmp_path, "--config", "configs/iemocap_loso.yaml", name="loso", sets=sets) == 0
    lines = (tmp_path / "loso" / "results.md").read_text().splitlines()
    assert len([line for line in lines if "| loso_Ses0" in line]) == 5
    assert all("± " in line for line in lines[2:])  # two seeds -> mean ± std everywhere
