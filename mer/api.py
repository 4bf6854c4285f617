"""mer's Python API: each pipeline stage as one function (the `mer` commands call exactly these).

    import mer
    built = mer.build("/data/emotion", "/data/processed", ["ravdess", "meld"])   # -> BuildResult
    info = mer.extract("/data/processed", "/data/F")                             # MFCC + hashed text
    packed = mer.pack("/data/F", "/data/M")                                       # every group -> memmaps
    run = mer.train("mer_builder_at_simple", overrides=["data.features_dir=/data/M"])
    run.run_dir, run.results                                                      # mean ± std over seeds
    metrics = mer.evaluate(run.checkpoints[0], "/data/M/testB", "outputs/eval_testB")
    tuned = mer.finetune("meld_text_e2e", overrides=["data.processed_dir=/data/processed"])   # encoders too
    by_group = mer.evaluate_finetuned(tuned.checkpoints[0], "/data/processed", "outputs/eval", groups=["testB"])
    predictions = mer.Predictor.from_checkpoint(run.checkpoints[0]).predict(["clip.wav"], texts=["..."])

Messages go to the `mer` and `mer_builder` loggers (silent unless configured: `logging.basicConfig`),
progress bars to stderr unless `quiet=True`. Bad input raises an `InputError` whose message names
the file and what was expected (`mer_builder.errors`).
"""

from __future__ import annotations

import logging
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mer_builder.api import BuildResult, build
from mer_builder.errors import InputError
from mer_builder.parallel import default_num_workers

__all__ = [
    "BuildResult",
    "RunResult",
    "build",
    "evaluate",
    "evaluate_finetuned",
    "extract",
    "finetune",
    "pack",
    "train",
]
logger = logging.getLogger(__name__)


def extract(
    processed_dir: Path | str,
    out_dir: Path | str,
    config: Any = None,
    *,
    groups: Sequence[str] = ("train", "val", "testA", "testB"),
    num_workers: int | None = None,
    backend: str = "local",
    scheduler: str | None = None,
    chunk_size: int = 64,
    force: bool = False,
    max_failure_rate: float = 0.01,
    device: str = "cpu",
    batch_size: int = 16,
    quiet: bool = False,
    runtime: Mapping[str, Any] | None = None,
) -> dict:
    """Features for every utterance of the builder's output `processed_dir`, one pickle each under `out_dir`.

    `config` is a `mer.features.config.FeatureConfig` (or its saved dict); the default is MFCC
    mean+std audio and hashed n-gram text. Pretrained encoders: `FeatureConfig(audio=(SpeechEncoderSpec(),),
    text=TextSpec(TextEncoderSpec()))`; `audio=()` or `text=None` leaves a modality out. Resumable: pickles
    made by the same config from the same inputs are reused unless `force`. Returns the run's
    `feature_info.json` content (dims, counts, failures, timing).
    """
    from .features.config import FeatureConfig
    from .features.extract import RunOptions, run_extraction

    if config is None:
        config = FeatureConfig()
    elif not isinstance(config, FeatureConfig):
        config = FeatureConfig.from_dict(dict(config))
    options = RunOptions(
        groups=tuple(groups),
        num_workers=default_num_workers() if num_workers is None else num_workers,
        backend=backend,
        scheduler=scheduler,
        chunk_size=chunk_size,
        force=force,
        quiet=quiet,
        max_failure_rate=max_failure_rate,
        device=device,
        batch_size=batch_size,
        runtime=dict(runtime or {"command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])}),
    )
    return run_extraction(Path(processed_dir), Path(out_dir), config, options)


def pack(in_dir: Path | str, out_dir: Path | str, dtype: str = "float32", quiet: bool = False) -> dict[str, dict]:
    """Memory-mapped arrays from pickle features: {group: info.json content}.

    `in_dir` is one group dir (F/train -> out_dir) or a feature root holding group dirs
    (F -> out_dir/train, out_dir/val, ...). Each output dir is replaced atomically.
    """
    from .features.memmap import build_memmap
    from .features.store import PICKLE_INDEX

    source, target = Path(in_dir), Path(out_dir)
    if (source / PICKLE_INDEX).is_file():
        return {source.name: build_memmap(source, target, dtype, quiet=quiet)}
    groups = sorted(p.name for p in source.iterdir() if (p / PICKLE_INDEX).is_file()) if source.is_dir() else []
    if not groups:
        raise InputError(
            f"{source}: expected a pickle feature dir ({PICKLE_INDEX} inside) or a folder of them (F/train, F/val, "
            "...), as written by mer extract"
        )
    return {group: build_memmap(source / group, target / group, dtype, quiet=quiet) for group in groups}


@dataclass
class RunResult:
    """A finished training run: its folder, resolved config, checkpoints and results."""

    run_dir: Path
    config: dict
    checkpoints: list[Path] = field(default_factory=list)  # best.pt of every fold and seed
    results: list = field(default_factory=list)  # mer.results.ResultRow: mean ± std over seeds per evaluated set
    evaluations: list[dict] = field(default_factory=list)  # every metrics_eval.json of the run

    def table(self) -> str:
        """The results as a Markdown table (as in results.md)."""
        from .results import markdown_table

        return markdown_table(self.results)


def train(
    config: Path | str | Mapping | None = None,
    overrides: Sequence[str] = (),
    *,
    overwrite: bool = False,
    resume: bool = False,
    quiet: bool = False,
) -> RunResult:
    """Train (and evaluate, unless `evaluation.test` is off) every fold and seed of a config.

    `config` is a YAML path, the name of a shipped config (`"mer_builder_at_simple"`), a dict of
    sections (validated like a file), or None for the defaults; `overrides` are `key.path=value`
    strings as for `--set`. `data.features_dir` must be set. Returns the run's results.
    """
    return _run(config, overrides, overwrite, resume, quiet, finetune=False)


def finetune(
    config: Path | str | Mapping | None = None,
    overrides: Sequence[str] = (),
    *,
    overwrite: bool = False,
    resume: bool = False,
    quiet: bool = False,
) -> RunResult:
    """Fine-tune pretrained encoders with a fusion head, end to end, on the builder's processed folder
    (`data.processed_dir`); the same config schema, protocols and outputs as `train` (docs/finetuning.md)."""
    return _run(config, overrides, overwrite, resume, quiet, finetune=True)


def _run(
    config: Path | str | Mapping | None,
    overrides: Sequence[str],
    overwrite: bool,
    resume: bool,
    quiet: bool,
    finetune: bool,
) -> RunResult:
    import json

    from .config import apply_overrides, defaults, load_config, merge, validate
    from .experiment import run_experiment
    from .results import collect

    if isinstance(config, Mapping):
        loaded = defaults()
        merge(loaded, config, "config")
        apply_overrides(loaded, overrides)
    else:
        loaded = load_config(config, overrides)
    checked = validate(loaded, require=["data.processed_dir" if finetune else "data.features_dir"])
    run_dir = run_experiment(checked, overwrite=overwrite, resume=resume, quiet=quiet, finetune=finetune)
    evaluations = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(run_dir.rglob("metrics_eval.json"))]
    return RunResult(
        run_dir,
        checked,
        sorted(run_dir.rglob("checkpoints/best.pt")),
        collect(run_dir) if evaluations else [],
        evaluations,
    )


def evaluate(
    checkpoint: Path | str,
    eval_dir: Path | str | None,
    out_dir: Path | str,
    *,
    name: str | None = None,
    config: Path | str | None = None,
    overrides: Sequence[str] = (),
    overwrite: bool = False,
    quiet: bool = False,
) -> dict:
    """Evaluate a checkpoint on a feature dir (one group dir, memmap or pickle) and write the evaluation
    folder `out_dir` (metrics_eval.json, per_corpus.csv, confusion matrix, predictions.csv).

    Batch size and device come from `config` (a path or shipped name) or else the config saved in the
    checkpoint, with `overrides` on top; `eval_dir` None takes `data.eval_dir` from there. Refuses to
    replace an earlier evaluation unless `overwrite`. Returns the metrics.
    """
    from .config import apply_overrides, load_config, validate
    from .device import resolve_device
    from .evaluation import EVAL_FILES, evaluate_checkpoint
    from .features.store import open_feature_store
    from .training.checkpoint import checkpoint_label_type, load_checkpoint

    checkpoint_path = Path(checkpoint)
    loaded = load_checkpoint(checkpoint_path)
    if config is not None:
        settings = load_config(config, overrides)
    else:
        settings = loaded["config"]
        apply_overrides(settings, overrides)
    if eval_dir is not None:
        settings["data"]["eval_dir"] = str(eval_dir)
    settings = validate(settings, require=["data.eval_dir"])
    output_dir = Path(out_dir).resolve()
    existing = [f for f in EVAL_FILES if (output_dir / f).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{output_dir} already holds {existing}; pass overwrite (--overwrite) to replace them")
    source = Path(settings["data"]["eval_dir"])
    return evaluate_checkpoint(
        loaded,
        open_feature_store(source, checkpoint_label_type(loaded)),
        output_dir,
        name or source.name,
        str(checkpoint_path.resolve()),
        settings["training"]["eval_batch_size"],
        resolve_device(settings["training"]["device"]),
        quiet,
        eval_dir=str(source),
    )


def evaluate_finetuned(
    checkpoint: Path | str,
    processed_dir: Path | str | None,
    out_dir: Path | str,
    *,
    groups: Sequence[str] | None = None,
    name: str | None = None,
    config: Path | str | None = None,
    overrides: Sequence[str] = (),
    overwrite: bool = False,
    quiet: bool = False,
) -> dict[str, dict]:
    """Evaluate a fine-tuned checkpoint (train_hf_e2e.py) on groups of a processed folder: {group: metrics}.

    The inputs are made as in training (the checkpoint's encoders, tokenisation and audio length).
    `processed_dir` None takes `data.processed_dir` from `config` (or the checkpoint's config);
    `groups` None takes `data.eval_splits`, else `data.report_groups`. With one group the evaluation
    files go to `out_dir`, with several to `out_dir/<group>`.
    """
    from .config import apply_overrides, load_config, validate
    from .device import resolve_device
    from .evaluation import EVAL_FILES, evaluate_checkpoint
    from .features.store import SubsetStore
    from .finetune.inputs import open_utterances
    from .finetune.model import specs_from_info
    from .finetune.pipeline import prepare_inputs, text_inputs_from
    from .protocols import ProtocolError
    from .training.checkpoint import CheckpointError, checkpoint_kind, checkpoint_label_type, load_checkpoint

    checkpoint_path = Path(checkpoint)
    loaded = load_checkpoint(checkpoint_path)
    if checkpoint_kind(loaded) != "finetune":
        raise CheckpointError(f"{checkpoint_path}: not a fine-tuned checkpoint; evaluate it with mer.evaluate")
    if config is not None:
        settings = load_config(config, overrides)
    else:
        settings = loaded["config"]
        apply_overrides(settings, overrides)
    if processed_dir is not None:
        settings["data"]["processed_dir"] = str(processed_dir)
    settings = validate(settings, require=["data.processed_dir"])
    data = settings["data"]
    chosen = list(groups or data["eval_splits"] or data["report_groups"])
    output_dir = Path(out_dir).resolve()
    outputs = {g: output_dir if len(chosen) == 1 else output_dir / g for g in chosen}
    for folder in outputs.values():
        existing = [f for f in EVAL_FILES if (folder / f).exists()]
        if existing and not overwrite:
            raise FileExistsError(f"{folder} already holds {existing}; pass overwrite (--overwrite) to replace them")
    device = resolve_device(settings["training"]["device"])
    info = loaded["finetune"]
    store, row_groups = open_utterances(
        data["processed_dir"], loaded["modalities"], info["max_audio_s"], data["corpora"], chosen,
        checkpoint_label_type(loaded),
    )  # fmt: skip
    prepare_inputs(store, specs_from_info(info), text_inputs_from(info["text_inputs"]), device)
    store.quiet = quiet
    results = {}
    for group in chosen:
        rows = [i for i, g in enumerate(row_groups) if g == group]
        if not rows:
            raise ProtocolError(f"{data['processed_dir']}: no rows in group {group!r} (for the chosen corpora)")
        results[group] = evaluate_checkpoint(
            loaded,
            SubsetStore(store, rows),
            outputs[group],
            name if name and len(chosen) == 1 else group,
            str(checkpoint_path.resolve()),
            settings["training"]["eval_batch_size"],
            device,
            quiet,
            eval_dir=str(data["processed_dir"]),
        )
    return results
