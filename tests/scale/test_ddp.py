"""train.py under torchrun: 2 CPU processes (gloo) on the demo's MFCC features against the single-process run."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mer.api import train

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "mer_builder_at_simple"


def settings(features: Path, out: Path, epochs: int) -> list[str]:
    """A short run whose only randomness is the row order (no dropout, noise or modality dropout) and whose
    batches (16 rows, and a last one of 2 of the 130 training rows) split evenly over 2 processes, without class
    weights: DDP's average of the two shares' gradients is then the batch's, and the runs agree to rounding."""
    return [
        f"data.features_dir={features}",
        f"experiment.output_dir={out}",
        "experiment.name=run",
        "experiment.seeds=[0]",
        f"training.epochs={epochs}",
        "training.batch_size=16",
        "training.num_threads=1",
        "model.hidden_dim=32",
        "model.dropout=0.0",
        "training.modality_dropout=0.0",
        "training.feature_noise=0.0",
        "training.early_stopping.patience=null",
        "training.class_weights=none",
        "training.scheduler=none",  # the learning rate must not depend on training.epochs, which the resume raises
        "training.warmup_epochs=0",
    ]


def torchrun(sets: list[str], *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += [str(ROOT / "train.py"), "--config", CONFIG, "--set", *sets, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)


def val_rows(run: Path) -> list[dict]:
    with open(run / "seed0" / "metrics_val.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_two_processes_match_one_and_resume(reference, tmp_path):
    single = train(CONFIG, settings(reference.features, tmp_path / "one", 3), quiet=True)

    first = torchrun(settings(reference.features, tmp_path / "two", 2))
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = torchrun(settings(reference.features, tmp_path / "two", 3), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("run folder:") == 1  # rank 0 reports, once
    assert resumed.stderr.count("resumed after epoch 2") == 1  # rank 0 logs; the other rank only warnings

    run = tmp_path / "two" / "run"
    ours, theirs = val_rows(run), val_rows(single.run_dir)
    assert [r["epoch"] for r in ours] == ["1", "2", "3"]
    for mine, one in zip(ours, theirs, strict=True):
        assert float(mine["loss"]) == pytest.approx(float(one["loss"]), rel=1e-3)
        assert float(mine["uar"]) == pytest.approx(float(one["uar"]), abs=1e-6)
    assert (run / "config_resolved.yaml").read_text() == (single.run_dir / "config_resolved.yaml").read_text().replace(
        str(tmp_path / "one"), str(tmp_path / "two")
    )
    assert (run / "seed0" / "checkpoints" / "best.pt").is_file()
    assert (run / "results.md").is_file()
    train_rows = np.loadtxt(run / "seed0" / "metrics_train.csv", delimiter=",", skiprows=1)
    assert np.isfinite(train_rows).all()


@pytest.mark.parametrize("size", [1, 5, 16, 17])
def test_shares_cover_a_batch_once_in_equal_lengths(size):
    from mer.training.distributed import DistContext, shard_batch

    batch = np.arange(100, 100 + size)
    shares = [shard_batch(batch, DistContext(rank, 3, rank)) for rank in range(3)]
    assert len({len(rows) for rows, _ in shares}) == 1
    real = np.concatenate([rows[mask] for rows, mask in shares])
    assert sorted(real.tolist()) == batch.tolist()
