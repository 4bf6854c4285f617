"""The Python API returns what the commands print: a run's results, an evaluation's metrics, packed groups."""

from __future__ import annotations

import json

import pytest

import mer
from mer_builder.errors import InputError


def test_train_returns_the_runs_results_and_evaluate_reproduces_them(synth, features_root, tmp_path):
    sets = synth.sets(features_root, tmp_path, **{"training.epochs": 3})
    run = mer.train(None, ["experiment.name=api", *sets], quiet=True)
    assert run.run_dir == tmp_path / "api" and run.config["training"]["epochs"] == 3
    assert run.checkpoints == [run.run_dir / "seed1" / "checkpoints" / "best.pt"]
    assert {row.eval_set for row in run.results} == {"testA", "testB"}
    assert run.table() == (run.run_dir / "results.md").read_text(encoding="utf-8")
    in_run = json.loads((run.run_dir / "seed1" / "eval" / "testB" / "metrics_eval.json").read_text())
    assert {e["eval_set"] for e in run.evaluations} == {"testA", "testB"}

    metrics = mer.evaluate(run.checkpoints[0], features_root / "testB", tmp_path / "again", quiet=True)
    assert metrics["uar"] == pytest.approx(in_run["uar"]) and metrics["n"] == in_run["n"]
    with pytest.raises(FileExistsError, match="overwrite"):
        mer.evaluate(run.checkpoints[0], features_root / "testB", tmp_path / "again", quiet=True)


def test_train_takes_a_dict_of_sections_and_names_a_bad_key(synth, features_root, tmp_path):
    from mer.config import ConfigError

    sections = {"experiment": {"name": "from_dict", "output_dir": str(tmp_path)}, "training": {"epochs": 2}}
    run = mer.train(sections, synth.sets(features_root, tmp_path, **{"evaluation.test": False}), quiet=True)
    assert run.results == [] and run.checkpoints and run.config["experiment"]["name"] == "from_dict"
    with pytest.raises(ConfigError, match=r"unknown key 'training.epoch'"):
        mer.train({"training": {"epoch": 2}}, synth.sets(features_root, tmp_path), quiet=True)


def test_pack_takes_a_group_dir_or_a_whole_feature_root(synth, tmp_path):
    root = synth.write_root(tmp_path / "F", fmt="pickle", per_group=8)
    packed = mer.pack(root, tmp_path / "M", quiet=True)
    assert sorted(packed) == ["testA", "testB", "train", "val"]
    assert all((tmp_path / "M" / group / "info.json").is_file() for group in packed)
    assert list(mer.pack(root / "val", tmp_path / "M1", quiet=True)) == ["val"]
    with pytest.raises(InputError, match="expected a pickle feature dir"):
        mer.pack(tmp_path / "M", tmp_path / "M2")
