"""Checkpoints: everything needed to rebuild the model and its feature pipeline, loadable without pickle code.

A checkpoint is a dict of tensors and plain Python values only, so it loads with
`torch.load(weights_only=True)`: opening a checkpoint someone sent you runs no code.

    format          "mer-checkpoint"
    format_version  1
    kind            "features" (train.py: a fusion model over feature vectors) or "finetune"
                    (train_hf_e2e.py: encoders + pooling + fusion head over raw inputs); absent = features
    finetune        finetune only: encoder specs, frozen-encoder frame dims, text and audio input settings
    model_state     the model's state dict (for best.pt: the weights that were selected, EMA if on);
                    for finetune without the LoRA base weights, which are reloaded from the encoder's source
    model_config    the `model` config section (name, hidden_dim, dropout, gate, ...)
    modalities      feature names in model order, e.g. ["audio", "text"]
    dims            feature dims per modality, e.g. {"audio": 80, "text": 512}
    label_type      what the logits are over: "emotion" or "sentiment" (mer_builder.labels.LABEL_SPACES);
                    absent = emotion
    labels          class names in logit order (that label space's classes)
    feature_config  the feature store's extraction config (how to rebuild the features), or None
    config          the whole resolved experiment config
    versions        {"mer", "torch", "numpy", "python"}
    fold, seed, epoch, val_metrics
    config_hash     mer.config.config_hash of `config`: best.pt is also reachable as
                    checkpoints/<config_hash>[-<fold>]-seed<k>.pt (the same file), findable once copied out
    train_state     last.pt only: optimizer, schedule, EMA, early stopping, history, for --resume
    branch_heads    the modalities with a head of their own (cross-modal distillation, `training.distill`),
                    e.g. ["audio", "text"]; their weights are in model_state. Absent = none (older checkpoints)
    distill         the `training.distill` section the heads were trained with (absent without distillation)
"""

from __future__ import annotations

import os
import pickle
import platform
import shutil
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union, cast

import numpy as np
import torch
from torch import nn

from mer_builder.errors import InputError
from mer_builder.fsutil import atomic_output

from .. import __version__
from ..modalities import modality_names
from ..models import MODELS, FusionModel, build_model, reads_frames
from .losses import distill_teacher

if TYPE_CHECKING:
    from ..finetune.model import FinetuneModel

TrainableModel = Union[FusionModel, "FinetuneModel"]  # a head over stored features, or encoders + head

FORMAT = "mer-checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("model_state", "model_config", "modalities", "dims", "labels")
KINDS = ("features", "finetune")


class CheckpointError(InputError, ValueError):
    """A checkpoint is unreadable or does not fit; the message names the file and the mismatch."""


def versions() -> dict[str, str]:
    return {
        "mer": __version__,
        "torch": str(torch.__version__),  # a str subclass that weights_only loading refuses
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def checkpoint_kind(checkpoint: Mapping) -> str:
    return str(checkpoint.get("kind", "features"))


def checkpoint_label_type(checkpoint: Mapping) -> str:
    return str(checkpoint.get("label_type", "emotion"))


def make_checkpoint(
    model: TrainableModel,
    config: Mapping,
    dims: Mapping[str, int],
    labels: Sequence[str],
    feature_config: Mapping | None,
    **extra: Any,
) -> dict:
    state = model.state_dict() if isinstance(model, FusionModel) else model.checkpoint_state()
    heads = model.head_modalities if isinstance(model, FusionModel) else ()
    if heads:
        extra = {"branch_heads": list(heads), "distill": dict(config["training"]["distill"]), **extra}
    checkpoint = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": "features" if isinstance(model, FusionModel) else "finetune",
        "model_state": {k: v.detach().cpu().clone() for k, v in state.items()},
        "model_config": dict(config["model"]),
        "modalities": list(model.modalities),
        "dims": {m: int(dims[m]) for m in model.modalities},
        "label_type": str(config.get("data", {}).get("label_type", "emotion")),
        "labels": list(labels),
        "feature_config": feature_config,
        "config": config,
        "versions": versions(),
        **extra,
    }
    if reads_frames(model):
        layers: Mapping[str, int] = getattr(model, "frame_layers", {})
        checkpoint["frame_layers"] = {m: int(n) for m, n in layers.items()}
    if not isinstance(model, FusionModel):
        from ..finetune.model import finetune_info

        checkpoint["finetune"] = finetune_info(model, config)
    return checkpoint


_PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def _check_plain(value: Any, where: str = "checkpoint") -> None:
    """Fail at save time, not at load time, if anything would need pickle code to load."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_plain(key, where)
            _check_plain(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif type(value) not in _PLAIN and not isinstance(value, torch.Tensor):
        raise TypeError(f"{where}: {type(value).__name__} cannot be stored in a weights-only checkpoint")


def save_checkpoint(path: Path, checkpoint: Mapping) -> None:
    _check_plain(checkpoint)
    with atomic_output(Path(path)) as tmp:
        torch.save(dict(checkpoint), tmp)


def save_alias(target: Path, alias: Path) -> None:
    """Make `alias` name the same checkpoint as `target` (a hard link, a copy where links are unsupported),
    replacing an older alias atomically."""
    with atomic_output(Path(alias)) as tmp:
        tmp.unlink()
        try:
            os.link(target, tmp)
        except OSError:
            shutil.copyfile(target, tmp)


def load_checkpoint(path: Path | str) -> dict:
    """Read a checkpoint with `weights_only=True`; a clear error for anything that is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    not_one = f"{path}: not a torch checkpoint; pass the best.pt or last.pt that train.py wrote"
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of files that are no checkpoint
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # Keep torch's one informative line, not its advice to load with weights_only=False.
        detail = next((line.strip() for line in str(exc).splitlines() if "Unsupported" in line), "")
        if "Unsupported global" not in detail:
            raise CheckpointError(f"{not_one} ({detail or 'unreadable pickle data'})") from None
        raise CheckpointError(
            f"{path}: refused to load: it holds objects other than tensors and plain values ({detail})"
        ) from None
    except Exception as exc:
        raise CheckpointError(f"{not_one} ({type(exc).__name__}: {exc})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a mer checkpoint (no format={FORMAT!r} entry)")
    if checkpoint.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {checkpoint['format_version']} is newer than this mer "
            f"(reads up to {FORMAT_VERSION}); upgrade mer"
        )
    missing = [k for k in REQUIRED if k not in checkpoint]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {missing}")
    return checkpoint


def _state_dims(state: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """Feature dims implied by the stored weights (each encoder's `mean` buffer has the input length)."""
    return {
        k.split(".")[1]: int(v.shape[0]) for k, v in state.items() if k.startswith("encoders.") and k.endswith(".mean")
    }


def load_state_strict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """`load_state_dict(strict=True)` with an error that lists missing/unexpected keys and the
    feature dims the model expects versus the ones the stored weights were trained on."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = {
        k: (tuple(expected[k].shape), tuple(state[k].shape))
        for k in set(expected) & set(state)
        if expected[k].shape != state[k].shape
    }
    if missing or unexpected or shapes:
        dims_expected, dims_found = _state_dims(expected), _state_dims(state)
        parts = [f"{source}: the stored weights do not fit the model"]
        if missing:
            parts.append(f"missing keys {missing}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected}")
        if shapes:
            parts.append("shape mismatches " + ", ".join(f"{k} expected {a} found {b}" for k, (a, b) in shapes.items()))
        if dims_expected != dims_found:
            parts.append(f"feature dims expected {dims_expected}, found {dims_found}")
        raise CheckpointError("; ".join(parts))
    model.load_state_dict(state, strict=True)


def model_from_checkpoint(checkpoint: Mapping, source: str = "checkpoint") -> TrainableModel:
    """Rebuild the model the checkpoint describes and load its weights strictly (eval mode)."""
    if checkpoint_kind(checkpoint) == "finetune":
        from ..finetune.model import model_from_finetune_checkpoint

        return model_from_finetune_checkpoint(checkpoint, source).eval()
    model = build_model(
        checkpoint["model_config"],
        checkpoint["modalities"],
        checkpoint["dims"],
        len(checkpoint["labels"]),
        checkpoint.get("frame_layers"),
    )
    if checkpoint.get("branch_heads"):
        model.add_branch_heads(checkpoint["branch_heads"], len(checkpoint["labels"]))
    load_state_strict(model, checkpoint["model_state"], source)
    return model.eval()


def load_model_state(model: TrainableModel, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Strict loading of a checkpoint's model_state into `model`, whatever kind of model it is."""
    if isinstance(model, FusionModel):
        load_state_strict(model, state, source)
    else:
        model.load_checkpoint_state(state, source)


def build_for_store(config: Mapping, modalities: Sequence[str], store: Any, num_classes: int) -> TrainableModel:
    """The model a training store calls for: a fusion head over its feature vectors, or (raw inputs from
    a processed folder) encoders + pooling + the same fusion head. With `training.distill` a fusion head
    gets branch heads: one per student, and one for a teacher that is a modality of the run."""
    distill = config["training"]["distill"]
    if getattr(store, "kind", "features") != "features":
        if distill["teacher"]:
            raise InputError(
                "training.distill: cross-modal distillation trains heads over stored features (train.py); "
                "fine-tuning (train_hf_e2e.py) does not support it yet, set training.distill.teacher=null"
            )
        from ..finetune.model import FinetuneModel, encoder_specs

        return FinetuneModel(
            modalities, encoder_specs(config, modalities), store.frame_dims, config["model"], num_classes
        )
    dims = {m: store.dims[m] for m in modalities}
    layers = None
    if MODELS[config["model"]["name"]].reads_frames:
        if distill["teacher"]:
            raise InputError(
                f"training.distill: model.name {config['model']['name']} pools frames before its fusion head and has "
                "no branch heads yet; distil with a model over vectors, or set training.distill.teacher=null"
            )
        frame_dims = getattr(store, "frame_dims", {})
        missing = [m for m in modalities if m not in frame_dims]
        if missing:
            raise InputError(
                f"model.name {config['model']['name']} reads per-frame features, but the feature store holds no "
                f"{', '.join(missing)} frames; extract with --{missing[0]}_frames and rebuild the memmaps"
            )
        dims, layers = {m: frame_dims[m] for m in modalities}, getattr(store, "frame_layers", {})
    model = build_model(config["model"], modalities, dims, num_classes, layers)
    teacher = distill_teacher(distill)
    if teacher:
        own_teacher = (teacher[1],) if teacher[0] == "modality" else ()
        model.add_branch_heads([*modality_names(distill["students"]), *own_teacher], num_classes)
    return model


def init_from_checkpoint(model: TrainableModel, path: Path | str) -> str:
    """Copy a checkpoint's weights into a new model (stage 2 from stage 1, a corpus from a multi-corpus model).

    Every stored tensor must fit the model. Model weights the checkpoint lacks are allowed only
    inside pretrained encoders (a stage that had them frozen stored none); they keep their
    pretrained values. Returns a line saying what was taken over.
    """
    checkpoint = load_checkpoint(path)
    state = checkpoint["model_state"]
    kind = "features" if isinstance(model, FusionModel) else "finetune"
    if checkpoint_kind(checkpoint) != kind:
        raise CheckpointError(
            f"{path}: a {checkpoint_kind(checkpoint)} checkpoint cannot initialise a {kind} model "
            "(train.py makes features checkpoints, train_hf_e2e.py finetune ones)"
        )
    own = model.state_dict() if isinstance(model, FusionModel) else model.checkpoint_state()
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(state) & set(own) if state[k].shape != own[k].shape)
    # a stage that had no distillation stored no branch heads: they start fresh, like unused encoders
    missing = sorted(k for k in set(own) - set(state) if not k.startswith(("backbones.", "branch_heads.")))
    if unexpected or shapes or missing:
        raise CheckpointError(
            f"{path}: its weights do not fit this model (unexpected {unexpected[:4]}, shape mismatches "
            f"{shapes[:4]}, missing outside the encoders {missing[:4]}); check model.* and data.modalities"
        )
    model.load_state_dict(dict(state), strict=False)
    absent = set(own) - set(state)
    fresh = len([k for k in absent if k.startswith("branch_heads.")])
    kept = len(absent) - fresh
    return (
        f"initialised from {path}: {len(state)} tensors"
        + (f"; {kept} encoder tensors keep their pretrained values" if kept else "")
        + (f"; {fresh} branch-head tensors start fresh" if fresh else "")
    )


def feature_layers(feature_config: Mapping | None) -> str | None:
    """The speech encoder's hidden-layer choice in a saved feature config ("last", "all", "4,8"), or None."""
    parts = (feature_config or {}).get("audio")
    for part in parts if isinstance(parts, list) else []:
        if isinstance(part, dict) and part.get("type") == "speech_encoder":
            return str(part.get("layers", "last"))
    return None


def check_store_fits(
    checkpoint: Mapping,
    modalities: Sequence[str],
    dims: Mapping[str, int],
    where: str,
    feature_config: Mapping | None = None,
    frame_dims: Mapping[str, int] | None = None,
) -> None:
    """The feature store at `where` has every modality the model needs, made with the trained encoder layers,
    at the trained dims (values per frame for a model over frames)."""
    missing = [m for m in checkpoint["modalities"] if m not in modalities]
    if missing:
        raise CheckpointError(
            f"{where}: the model needs {checkpoint['modalities']} features but this store has no {missing}"
        )
    trained, given = feature_layers(checkpoint.get("feature_config")), feature_layers(feature_config)
    if "audio" in checkpoint["modalities"] and trained is not None and given is not None and trained != given:
        raise CheckpointError(
            f"{where}: its audio features hold encoder layers {given!r}, but the model was trained on layers "
            f"{trained!r} (--audio_layers); extract them with --audio_layers {trained}"
        )
    if "frame_layers" in checkpoint:  # a model over frames: the store must keep them
        frame_dims = frame_dims or {}
        lacking = [m for m in checkpoint["modalities"] if m not in frame_dims]
        if lacking:
            raise CheckpointError(
                f"{where}: the model reads {', '.join(lacking)} frames but this store keeps none "
                f"(extract with --{lacking[0]}_frames)"
            )
        dims = frame_dims
    wrong = {m: (checkpoint["dims"][m], dims[m]) for m in checkpoint["modalities"] if dims[m] != checkpoint["dims"][m]}
    if wrong:
        detail = ", ".join(f"{m} expected {a}-d found {b}-d" for m, (a, b) in wrong.items())
        raise CheckpointError(f"{where}: feature dims do not match the checkpoint: {detail}")


def load_teacher(path: str, labels: Sequence[str], store: Any, device: torch.device) -> FusionModel:
    """A checkpoint teacher for distillation: frozen, in eval mode, over features this store has, predicting
    the same classes in the same order."""
    checkpoint = load_checkpoint(path)
    if checkpoint_kind(checkpoint) != "features":
        raise CheckpointError(f"{path}: a distillation teacher must be a train.py checkpoint (over stored features)")
    if list(checkpoint["labels"]) != list(labels):
        raise CheckpointError(f"{path}: the teacher predicts {checkpoint['labels']}, this run {list(labels)}")
    check_store_fits(checkpoint, list(store.modalities), store.dims, f"{path} (distillation teacher)")
    teacher = cast(FusionModel, model_from_checkpoint(checkpoint, path)).to(device)  # a features checkpoint
    teacher.requires_grad_(False)
    return teacher
