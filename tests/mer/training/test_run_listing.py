"""Runs stay findable: checkpoints named by the config's hash and the seed, and `mer results --list`."""

import os

import pytest
import yaml

from mer.commands import results_main, train_main
from mer.config import config_hash, load_config, validate
from mer.training.checkpoint import load_checkpoint


def test_the_config_hash_follows_what_is_trained_not_where_or_for_how_long(tmp_path):
    def config(*sets):
        return validate(load_config(None, [f"data.features_dir={tmp_path}", "experiment.name=x", *sets]))

    base = config()
    same = [
        "experiment.name=other",
        f"experiment.output_dir={tmp_path / 'elsewhere'}",
        "training.epochs=99",
        "experiment.seeds=[4,5]",
    ]
    assert config_hash(config(*same)) == config_hash(base)
    for change in ("training.lr=0.5", "data.label_type=sentiment", "data.modalities=[T]", "model.hidden_dim=8"):
        assert config_hash(config(change)) != config_hash(base)
    # a saved config without a key that later versions added (at its default) keeps its hash
    older = {section: dict(values) for section, values in base.items()}
    del older["data"]["label_type"]
    assert config_hash(older) == config_hash(base) and len(config_hash(base)) == 8


def test_best_checkpoint_has_a_hash_and_seed_name_and_runs_are_listed(synth, features_root, tmp_path, capsys):
    def train(name, *sets):
        argv = ["--run_name", name, "--quiet", "--seeds", "1", "2", "--set"]
        return train_main([*argv, *synth.sets(features_root, tmp_path, **{"training.epochs": 2}), *sets])

    assert train("a") == 0 and train("b", "training.lr=0.01") == 0
    saved = yaml.safe_load((tmp_path / "a" / "config_resolved.yaml").read_text())
    digest = config_hash(saved)
    for seed in (1, 2):
        folder = tmp_path / "a" / f"seed{seed}" / "checkpoints"
        alias = folder / f"{digest}-seed{seed}.pt"
        assert os.path.samefile(alias, folder / "best.pt")  # one file under two names
        checkpoint = load_checkpoint(alias)
        assert checkpoint["config_hash"] == digest and checkpoint["seed"] == seed
    assert not (tmp_path / "b" / "seed1" / "checkpoints" / f"{digest}-seed1.pt").exists()  # another lr

    capsys.readouterr()
    assert results_main([str(tmp_path), "--list", "--csv", str(tmp_path / "runs.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| run | config | model | mod. | labels | data | units | best val |"
    row_a = next(line for line in lines if line.startswith("| a |"))
    assert f"| {digest} | flexible_at | A+T | emotion | {features_root} | 2 | uar " in row_a
    assert any(line.startswith("| b |") and digest not in line for line in lines)
    rows = (tmp_path / "runs.csv").read_text().splitlines()
    assert rows[0] == "run,config_hash,model,modalities,label_type,data,units,metric,best_mean,best_std"
    best_uar = [
        max(
            float(line.split(",")[5])
            for line in (tmp_path / "a" / f"seed{s}" / "metrics_val.csv").read_text().split()[1:]
        )
        for s in (1, 2)
    ]
    assert float(rows[1].split(",")[-2]) == pytest.approx(sum(best_uar) / 2, abs=1e-4)  # mean of the seeds' best
    assert results_main([str(tmp_path / "a" / "seed1"), "--list"]) == 2
    assert "no run folder under it" in capsys.readouterr().err
