"""Run logs read back with the usual tools: TensorBoard's own event reader, and MLflow's client on a local store."""

from __future__ import annotations

import csv
import json

import pytest

from mer.config import load_config, validate
from mer.experiment import run_experiment


def _rows(path):
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_tensorboard_holds_every_epoch_the_confusion_matrix_and_the_config(synth, features_root, tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    sets = synth.sets(features_root, tmp_path, **{"training.epochs": 3})
    run_dir = run_experiment(validate(load_config(None, ["experiment.name=tb", *sets])), quiet=True)
    unit = run_dir / "seed1"
    events = event_accumulator.EventAccumulator(str(unit / "tensorboard"), size_guidance={"images": 0, "tensors": 0})
    events.Reload()

    for split in ("train", "val"):
        logged = {s.step: s.value for s in events.Scalars(f"{split}/uar")}
        written = {int(r["epoch"]): float(r["uar"]) for r in _rows(unit / f"metrics_{split}.csv")}
        assert logged.keys() == written.keys() == {1, 2, 3}
        assert all(logged[e] == pytest.approx(written[e], abs=1e-6) for e in written)
    test_uar = events.Scalars("test/testA/uar")
    evaluated = json.loads((unit / "eval/testA/metrics_eval.json").read_text())
    assert len(test_uar) == 1 and test_uar[0].value == pytest.approx(evaluated["uar"], abs=1e-6)
    (image,) = events.Images("confusion_matrix/testA")
    assert image.width > 100 and image.height > 100
    (text,) = events.Tensors("config/text_summary")
    assert "flexible_at" in text.tensor_proto.string_val[0].decode()


def test_mlflow_gets_the_params_metrics_and_artifacts_and_a_resume_continues_its_run(
    synth, features_root, tmp_path, monkeypatch
):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # the plain local file store, for the test
    uri = (tmp_path / "mlruns").as_uri()
    sets = synth.sets(features_root, tmp_path, **{"training.epochs": 2, "logging.mlflow_uri": uri,
                                                  "logging.tensorboard": False})  # fmt: skip
    config = validate(load_config(None, ["experiment.name=tracked", *sets]))
    run_dir = run_experiment(config, quiet=True)
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tracked").experiment_id])
    assert run.info.run_name == "tracked/pooled/seed1" and run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "flexible_at" and run.data.params["training.epochs"] == "2"
    written = [float(r["uar"]) for r in _rows(run_dir / "seed1" / "metrics_val.csv")]
    history = client.get_metric_history(run.info.run_id, "val_uar")
    assert [m.step for m in history] == [1, 2] and [m.value for m in history] == pytest.approx(written, abs=1e-6)
    assert "test_testB_uar" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "eval/testA")}
    assert "eval/testA/confusion_matrix.png" in artifacts
    assert not (run_dir / "seed1" / "tensorboard").exists()

    config["training"]["epochs"] = 3
    run_experiment(config, resume=True, quiet=True)
    (again,) = client.search_runs([client.get_experiment_by_name("tracked").experiment_id])
    assert again.info.run_id == run.info.run_id
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_uar")] == [1, 2, 3]


def test_a_missing_mlflow_is_named_before_any_training(synth, features_root, tmp_path, monkeypatch):
    import importlib.util

    from mer_builder.errors import InputError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    sets = synth.sets(features_root, tmp_path, **{"logging.mlflow_uri": "sqlite:///x.db"})
    with pytest.raises(InputError, match=r"logging\.mlflow_uri is set but MLflow is not installed"):
        run_experiment(validate(load_config(None, ["experiment.name=nomlflow", *sets])), quiet=True)
    assert not (tmp_path / "nomlflow").exists()
