"""One experiment = one protocol's folds x the seeds, trained, evaluated and summarised in one run folder.

    outputs/<run>/config_resolved.yaml        the validated config (paths absolute)
    outputs/<run>/[<fold>/]seed<k>/           one trained model (see mer.training.trainer)
        eval/<set>/                           its evaluation on each reported set (see mer.evaluation)
    outputs/<run>/results.md, results.csv     every evaluation in the run, mean ± std over seeds

The fold level exists for `loco` (`loco_<corpus>`) and `iemocap_loso` (`loso_Ses0N`). All
checks (config, data, protocol leakage) run before anything is written or trained.

Under `torchrun --nproc_per_node N` every process runs this with the same config: each trains on its
share of every batch (`mer.training.distributed`); rank 0 alone checks and locks the run folder, writes
it and evaluates, the others wait for it at the end.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import yaml

from mer_builder.errors import InputError
from mer_builder.fsutil import atomic_write_text
from mer_builder.locking import LOCK_NAME, output_lock
from mer_builder.parallel import free_cpus

from .config import RESUME_MAY_DIFFER, ConfigError, differing_keys, dump
from .device import resolve_device
from .evaluation import evaluate_checkpoint, headline
from .explain.reference import REFERENCE_KEY, training_reference
from .modalities import modality_names
from .protocols import Fold, ProtocolData, Rows, make_folds, open_features
from .results import collect, csv_table, markdown_table
from .training.checkpoint import load_checkpoint
from .training.distributed import DistContext, barrier, distributed_session
from .training.precision import Precision
from .training.tracking import RunTracker, check_tracking
from .training.trainer import Trainer

CONFIG_NAME = "config_resolved.yaml"
logger = logging.getLogger(__name__)


class RunFolderError(InputError, FileExistsError):
    """The run folder exists and neither --resume nor --overwrite says what to do with it."""


def unit_dir(run_dir: Path, protocol: str, fold: str, seed: int) -> Path:
    return run_dir / (f"seed{seed}" if protocol == "pooled" else f"{fold}/seed{seed}")


def check_run_dir(run_dir: Path, config: Mapping, overwrite: bool, resume: bool) -> None:
    """Raise unless the run folder may be used as asked; deletes nothing."""
    if overwrite and resume:
        raise ConfigError("--overwrite and --resume exclude each other")
    if not run_dir.exists() or not any(p.name != LOCK_NAME for p in run_dir.iterdir()):
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


def open_data(config: Mapping, device: torch.device, finetune: bool, quiet: bool = True) -> ProtocolData:
    """The run's rows: feature stores (train.py), or a processed folder's utterances, tokenised and with the
    frozen encoders attached (fine-tuning)."""
    data_cfg = config["data"]
    if not finetune:
        data = open_features(data_cfg["features_dir"], data_cfg["corpora"], data_cfg["label_type"])
        if data.unlabelled:
            logger.info("left out for having no %s label: %s", data_cfg["label_type"], data.unlabelled)
        return data
    from .finetune.inputs import open_utterances
    from .finetune.model import encoder_specs
    from .finetune.pipeline import check_encoders, prepare_inputs, text_inputs_from

    modalities = modality_names(data_cfg["modalities"])
    specs = encoder_specs(config, modalities)
    check_encoders(specs, modalities)
    store, groups = open_utterances(
        data_cfg["processed_dir"], modalities, data_cfg["max_audio_s"], data_cfg["corpora"],
        label_type=data_cfg["label_type"],
    )  # fmt: skip
    prepare_inputs(store, specs, text_inputs_from(data_cfg), device)
    store.quiet = quiet
    store.warm_frozen(np.arange(len(store)))
    return ProtocolData(store, Rows.from_meta(store.meta, groups), Path(data_cfg["processed_dir"]))


def plan(
    config: Mapping, device: torch.device | None = None, finetune: bool = False, quiet: bool = True
) -> tuple[ProtocolData, list[Fold], tuple[str, ...]]:
    """Open the data and make the protocol's folds (every check that can fail before training)."""
    data_cfg = config["data"]
    data = open_data(config, device or torch.device("cpu"), finetune, quiet)
    modalities = modality_names(data_cfg["modalities"])
    missing = [m for m in modalities if m not in data.store.modalities]
    if missing:
        raise ConfigError(
            f"data.modalities asks for {missing}, but the features in {data.root} hold {list(data.store.modalities)} "
            "(a modality extracted with --<modality>_model none has none); set data.modalities to those it holds, "
            "or extract the missing ones"
        )
    skipped: list[str] = []
    folds = make_folds(
        config["experiment"]["protocol"],
        data.rows,
        holdout=data_cfg["holdout"],
        report_groups=data_cfg["report_groups"],
        loso_val=data_cfg["loso_val"],
        skipped=skipped,
    )
    dims = dict(data.store.dims) or dict(getattr(data.store, "frame_dims", {}))
    logger.info("data: %s (%d rows, dims %s); modalities %s", data.root, len(data.rows), dims, modalities)
    for fold in folds:
        logger.info(fold.describe(data.rows))
    for reason in skipped:
        logger.warning(reason)
    return data, folds, modalities


def run_experiment(
    config: dict, overwrite: bool = False, resume: bool = False, quiet: bool = False, finetune: bool = False
) -> Path:
    """Train (and, unless evaluation.test is off, evaluate) every fold and seed; returns the run folder.
    `finetune` reads raw inputs from data.processed_dir and trains encoders with the head (train_hf_e2e.py).

    The run folder is locked while the run writes it: a second run of the same name is refused, naming this one.
    """
    run_dir = Path(config["experiment"]["output_dir"]) / config["experiment"]["name"]
    with distributed_session(resolve_device(config["training"]["device"])) as (dist, device):
        if not dist.is_main:
            return _run_locked(config, overwrite, resume, quiet, finetune, dist, device)
        check_run_dir(run_dir, config, overwrite, resume)  # before the lock creates anything in a folder not ours
        with output_lock(run_dir):
            return _run_locked(config, overwrite, resume, quiet, finetune, dist, device)


def _run_locked(
    config: dict, overwrite: bool, resume: bool, quiet: bool, finetune: bool, dist: DistContext, device: torch.device
) -> Path:
    experiment, training = config["experiment"], config["training"]
    run_dir = Path(experiment["output_dir"]) / experiment["name"]
    if dist.is_main:
        check_run_dir(run_dir, config, overwrite, resume)  # again: another run may have finished here meanwhile
    check_tracking(config)
    Precision(training["amp"], device)  # refuses AMP without CUDA before anything is read or written
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # torchrun's processes on this machine
    threads = training["num_threads"] or max(1, free_cpus() // local_processes)
    torch.set_num_threads(threads)
    logger.info("torch threads: %d (%s)", threads, "training.num_threads" if training["num_threads"] else
                "the CPUs free now; set training.num_threads to choose")  # fmt: skip
    data, folds, modalities = plan(config, device, finetune, quiet)
    if overwrite and dist.is_main:
        for old in run_dir.iterdir():
            if old.name != LOCK_NAME:
                shutil.rmtree(old) if old.is_dir() else old.unlink()
    if dist.is_main:
        atomic_write_text(run_dir / CONFIG_NAME, dump(config))
    barrier(dist)  # the others start once the folder is ready (and on --resume read the last.pt files)

    for fold in folds:
        train = data.subset(fold.train)
        reference = training_reference(data.root, train.meta, context=f"[{fold.name}] ")
        extras = {} if reference is None else {REFERENCE_KEY: reference}
        for seed in experiment["seeds"]:
            directory = unit_dir(run_dir, experiment["protocol"], fold.name, seed)
            tracker = RunTracker(config, directory, fold.name, seed) if dist.is_main else None
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
                tracker,
                extras,
                dist,
            )
            result = trainer.fit(resume=resume)
            if tracker is None:
                continue  # a rank other than 0: it trained its shares; rank 0 evaluates
            if not config["evaluation"]["test"]:
                tracker.close(run_dir / CONFIG_NAME)
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
                    eval_dir=str(data.root),
                )
                logger.info("[%s seed %s] %s: %s", fold.name, seed, name, headline(metrics))
                tracker.evaluation(name, metrics, directory / "eval" / name, result.best_epoch)
            tracker.close(run_dir / CONFIG_NAME)
    if config["evaluation"]["test"] and dist.is_main:
        rows = collect(run_dir)
        table = markdown_table(rows)
        atomic_write_text(run_dir / "results.md", table)
        atomic_write_text(run_dir / "results.csv", csv_table(rows))
        logger.info("results: %s (mean ± std over seeds)", run_dir / "results.md")
    barrier(dist)  # every rank returns a finished run folder
    return run_dir
