"""Run logs that the usual tools read: TensorBoard event files, and MLflow when `logging.mlflow_uri` is set.

Per unit (one fold and seed) of a run:

    <unit>/tensorboard/events.out.tfevents.*   scalars train/<metric> and val/<metric> per epoch (+ lr),
                                               test/<set>/<metric> and the confusion matrix image per
                                               evaluated set, the resolved config as text
    MLflow run "<run>/<fold>/seed<k>"          the same metrics (per-epoch steps), the config keys as
                                               params, config_resolved.yaml and the confusion matrices
                                               as artifacts; a resumed unit continues its MLflow run

`tensorboard --logdir outputs/<run>` shows every fold and seed of a run side by side.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mer_builder.errors import InputError
from mer_builder.fsutil import atomic_write_text

from ..metrics import HEADLINE

TENSORBOARD_DIR = "tensorboard"
MLFLOW_RUN_ID = "mlflow_run_id.txt"
logger = logging.getLogger(__name__)


def check_tracking(config: Mapping) -> None:
    """Fail before training when a configured tracker cannot run (its package is missing)."""
    if config["logging"]["mlflow_uri"] and importlib.util.find_spec("mlflow") is None:
        raise InputError(
            "logging.mlflow_uri is set but MLflow is not installed: pip install mlflow-skinny "
            "(or unset logging.mlflow_uri)"
        )


def _flat(config: Mapping, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _png_pixels(path: Path) -> np.ndarray:
    """An RGB uint8 image (H, W, 3) from a PNG file."""
    from matplotlib import image

    pixels = image.imread(str(path))
    if pixels.dtype != np.uint8:
        pixels = (np.clip(pixels, 0.0, 1.0) * 255).round().astype(np.uint8)
    return pixels[..., :3]


class RunTracker:
    """Writes one unit's epochs and evaluations to TensorBoard (and MLflow when configured)."""

    def __init__(self, config: Mapping, unit_dir: Path, fold: str, seed: int):
        self.unit_dir = Path(unit_dir)
        settings = config["logging"]
        self._tensorboard: Any = None  # a tensorboardX SummaryWriter when logging.tensorboard is on
        if settings["tensorboard"]:
            from tensorboardX import SummaryWriter

            self._tensorboard = SummaryWriter(str(self.unit_dir / TENSORBOARD_DIR), flush_secs=30)
            text = yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True)
            self._tensorboard.add_text("config", f"```yaml\n{text}```", 0)
        self._mlflow: Any = None  # an MlflowClient when logging.mlflow_uri is set
        self._run_id: str | None = None
        if settings["mlflow_uri"]:
            self._start_mlflow(config, settings, fold, seed)

    def _start_mlflow(self, config: Mapping, settings: Mapping, fold: str, seed: int) -> None:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=settings["mlflow_uri"])
        name = settings["mlflow_experiment"] or config["experiment"]["name"]
        experiment = client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
        saved = self.unit_dir / MLFLOW_RUN_ID
        if saved.is_file():
            self._run_id = saved.read_text(encoding="utf-8").strip()
            client.update_run(self._run_id, status="RUNNING")
        else:
            run_name = f"{config['experiment']['name']}/{fold}/seed{seed}"
            run = client.create_run(experiment_id, run_name=run_name, tags={"fold": fold, "seed": str(seed)})
            self._run_id = run.info.run_id
            params = {k: str(v)[:500] for k, v in _flat(config).items()}
            for key, value in params.items():
                client.log_param(self._run_id, key, value)
            self.unit_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(saved, self._run_id + "\n")
        self._mlflow = client
        logger.info("MLflow: run %s in experiment %r at %s", self._run_id, name, settings["mlflow_uri"])

    def _scalar(self, tag: str, value: float, step: int) -> None:
        if value is None or not np.isfinite(value):
            return
        if self._tensorboard is not None:
            self._tensorboard.add_scalar(tag, float(value), step)
        if self._mlflow is not None:
            self._mlflow.log_metric(self._run_id, tag.replace("/", "_"), float(value), step=step)

    def epoch(self, epoch: int, train_row: Mapping, val_row: Mapping) -> None:
        """The per-epoch rows of metrics_train.csv and metrics_val.csv."""
        for split, row in (("train", train_row), ("val", val_row)):
            for key in ("loss", *HEADLINE):
                self._scalar(f"{split}/{key}", row[key], epoch)
        for key in (k for k in val_row if k.startswith(("head_", "teacher_"))):  # distillation's branch heads
            self._scalar(f"val/{key}", val_row[key], epoch)
        if "lr" in train_row:
            self._scalar("train/lr", train_row["lr"], epoch)
        if self._tensorboard is not None:
            self._tensorboard.flush()  # an interrupted run keeps every finished epoch

    def evaluation(self, eval_set: str, metrics: Mapping, eval_dir: Path, step: int) -> None:
        """A test set's headline metrics and its confusion matrix (the PNG the evaluation wrote)."""
        for key in ("loss", *HEADLINE):
            if key in metrics:
                self._scalar(f"test/{eval_set}/{key}", metrics[key], step)
        png = Path(eval_dir) / "confusion_matrix.png"
        if self._tensorboard is not None and png.is_file():
            self._tensorboard.add_image(f"confusion_matrix/{eval_set}", _png_pixels(png), step, dataformats="HWC")
        if self._mlflow is not None:
            for name in ("confusion_matrix.png", "metrics_eval.json"):
                if (Path(eval_dir) / name).is_file():
                    self._mlflow.log_artifact(self._run_id, str(Path(eval_dir) / name), f"eval/{eval_set}")

    def close(self, config_file: Path | None = None) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
        if self._mlflow is not None:
            if config_file is not None and config_file.is_file():
                self._mlflow.log_artifact(self._run_id, str(config_file))
            self._mlflow.set_terminated(self._run_id)
