"""One experiment = one protocol's folds x the seeds, trained, evaluated and summarised in one run folder.

    outputs/<run>/config_resolved.yaml        the validated config (paths absolute)
    outputs/<run>/[<fold>/]seed<k>/           one trained model (see mer.training.trainer)
        eval/<set>/                           its evaluation on each reported set (see mer.evaluation)
    outputs/<run>/results.md, results.csv     every evaluation in the run, mean ± std over seeds

The fold level exists for `loco` (`loco_<corpus>`) and `iemocap_loso` (`loso_Ses0N`). All
checks (config, data, protocol leakage) run before anything is written or trained.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
import yaml

from mer_builder.fsutil import atomic_write_text

from .config import RESUME_MAY_DIFFER, ConfigError, differing_keys, dump
from .evaluation import evaluate_checkpoint, headline
from .explain.reference import REFERENCE_KEY, training_reference
from .modalities import modality_names
from .protocols import Fold, ProtocolData, make_folds, open_features
from .results import collect, csv_table, markdown_table
from .training.checkpoint import load_checkpoint
from .training.runtime import resolve_device
from .training.trainer import Trainer

CONFIG_NAME = "config_resolved.yaml"


class RunFolderError(FileExistsError):
    """The run folder exists and neither --resume nor --overwrite says what to do with it."""


def unit_dir(run_dir: Path, protocol: str, fold: str, seed: int) -> Path:
    return run_dir / (f"seed{seed}" if protocol == "pooled" else f"{fold}/seed{seed}")


def check_run_dir(run_dir: Path, config: Mapping, overwrite: bool, resume: bool) -> None:
    """Raise unless the run folder may be used as asked; deletes nothing."""
    if overwrite and resume:
        raise ConfigError("--overwrite and --resume exclude each other")
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return
    saved = run_dir / CONFIG_NAME
    if resume:
        if not saved.is_file():
            raise RunFolderError(f"{run_dir}: cannot resume, it has no {CONFIG_NAME} (not a mer run folder)")
        changed = differing_keys(yaml.safe_load(saved.read_text(encoding="utf-8")), config, RESUME_MAY_DIFFER)
        if changed:
            raise ConfigError(
                f"{run_dir}: cannot resume with a different config; changed keys: {changed} "
                f"(only {list(RESUME_MAY_DIFFER)} may change). Use a new --run_name or --overwrite."
            )
    elif overwrite:
        if not saved.is_file():
            raise RunFolderError(f"{run_dir}: refusing to overwrite a folder that is not a mer run (no {CONFIG_NAME})")
    else:
        raise RunFolderError(
            f"{run_dir}: run folder exists; pass --resume to continue it, --overwrite to replace it, "
            "or choose another --run_name"
        )


def plan(config: Mapping, log: Callable[[str], None] = print) -> tuple[ProtocolData, list[Fold], tuple[str, ...]]:
    """Open the features and make the protocol's folds (every check that can fail before training)."""
    data_cfg = config["data"]
    data = open_features(data_cfg["features_dir"], data_cfg["corpora"])
    modalities = modality_names(data_cfg["modalities"])
    missing = [m for m in modalities if m not in data.store.modalities]
    if missing:
        raise ConfigError(
            f"data.modalities asks for {missing}, but the features in {data.root} hold {list(data.store.modalities)}"
        )
    folds = make_folds(
        config["experiment"]["protocol"],
        data.rows,
        holdout=data_cfg["holdout"],
        report_groups=data_cfg["report_groups"],
        loso_val=data_cfg["loso_val"],
    )
    log(f"features: {data.root} ({len(data.rows)} rows, dims {dict(data.store.dims)}); modalities {list(modalities)}")
    for fold in folds:
        log(fold.describe(data.rows))
    return data, folds, modalities


def run_experiment(
    config: dict, overwrite: bool = False, resume: bool = False, quiet: bool = False, log: Callable[[str], None] = print
) -> Path:
    """Train (and, unless evaluation.test is off, evaluate) every fold and seed; returns the run folder."""
    experiment, training = config["experiment"], config["training"]
    run_dir = Path(experiment["output_dir"]) / experiment["name"]
    check_run_dir(run_dir, config, overwrite, resume)
    data, folds, modalities = plan(config, log)
    device, note = resolve_device(training["device"])
    log(note)
    if training["num_threads"]:
        torch.set_num_threads(training["num_threads"])
    if overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / CONFIG_NAME, dump(config))

    for fold in folds:
        train = data.subset(fold.train)
        reference = training_reference(data.root, train.meta, lambda line, name=fold.name: log(f"[{name}] {line}"))
        extras = {} if reference is None else {REFERENCE_KEY: reference}
        for seed in experiment["seeds"]:
            directory = unit_dir(run_dir, experiment["protocol"], fold.name, seed)
            trainer = Trainer(
                config,
                modalities,
                train,
                data.subset(fold.val),
                directory,
                seed,
                fold.name,
                device,
                quiet,
                log,
                extras,
            )
            result = trainer.fit(resume=resume)
            if not config["evaluation"]["test"]:
                continue
            if not result.best_checkpoint.is_file():
                raise RuntimeError(f"{result.best_checkpoint}: no model was selected (val metric was never finite)")
            checkpoint = load_checkpoint(result.best_checkpoint)
            for name, index in fold.report.items():
                metrics = evaluate_checkpoint(
                    checkpoint,
                    data.subset(index),
                    directory / "eval" / name,
                    name,
                    str(result.best_checkpoint),
                    training["eval_batch_size"],
                    device,
                    quiet,
                    log,
                    eval_dir=str(data.root),
                )
                log(f"[{fold.name} seed {seed}] {name}: {headline(metrics)}")
    if config["evaluation"]["test"]:
        rows = collect(run_dir, log)
        table = markdown_table(rows)
        atomic_write_text(run_dir / "results.md", table)
        atomic_write_text(run_dir / "results.csv", csv_table(rows))
        log(f"\nresults ({run_dir / 'results.md'}):\n{table}")
    return run_dir
