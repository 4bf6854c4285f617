"""The model registry and the modality contract every registered model class declares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from mer_builder.errors import InputError

from ..modalities import MODALITY_LETTERS
from ..registry import Registry
from .layers import ModalityEncoder, SwiGLUHead

MODELS: Registry[Any] = Registry("model")


class ModalityMismatch(InputError, ValueError):
    """The model cannot take these modalities; the message says which it accepts."""


class FusionModel(nn.Module):
    """The base of every registered model: what it declares, and what every model instance has.

    accepts:  the modalities the model can use (a subset of audio, text, video);
    requires: the ones it cannot work without (empty: any non-empty subset of `accepts`);
    modalities, encoders: the modalities it was built for, in input order, and their encoders.

    Branch heads (cross-modal distillation, `training.distill`): `add_branch_heads` gives chosen modalities
    a classifier of their own over their encoder's output. Every model encodes through `encode`, which
    then also leaves each head's logits in `branch_logits` (inside forward, so DDP and EMA see them like
    any other weights); the trainer adds their losses and prediction uses a head when only its modality
    is there. A model without heads behaves, and stores, exactly as before.
    """

    accepts: ClassVar[frozenset[str]] = frozenset()
    requires: ClassVar[frozenset[str]] = frozenset()
    reads_frames: ClassVar[bool] = False  # True: batches carry stored frame sequences (mer.models.frames)
    modalities: tuple[str, ...]
    encoders: nn.ModuleDict
    branch_heads: nn.ModuleDict | None
    branch_logits: dict[str, torch.Tensor]

    @classmethod
    def from_config(
        cls,
        model_config: Mapping,
        modalities: tuple[str, ...],
        dims: dict[str, int],
        num_classes: int,
        **extra: Any,
    ) -> FusionModel:
        """The model from the `model` config section (each class reads the keys it has); `extra`: facts of
        the data, not of the config (a frames model's stacked layers)."""
        common = {"hidden_dim": model_config["hidden_dim"], "dropout": model_config["dropout"]}
        make: Any = cls  # each subclass has its own constructor signature
        return make(modalities, dims, num_classes, **common, **cls.config_arguments(model_config), **extra)

    @classmethod
    def config_arguments(cls, model_config: Mapping) -> dict[str, Any]:
        return {}

    def _build_encoders(
        self, modalities: Sequence[str], dims: Mapping[str, int], hidden_dim: int, dropout: float
    ) -> None:
        """Every model's first step: the modalities checked against the class's `accepts`/`requires`, then
        one encoder each, in input order."""
        given = set(modalities)
        if not given or given - self.accepts or self.requires - given:
            need = _listed(self.requires, "and") if self.requires else f"one or more of {_listed(self.accepts, 'or')}"
            raise ValueError(f"{type(self).__name__} needs {need}, got {list(modalities)}")
        self.modalities = tuple(modalities)
        self.encoders = nn.ModuleDict({m: ModalityEncoder(dims[m], hidden_dim, dropout) for m in self.modalities})
        self.encoded_dim, self.head_dropout = hidden_dim, dropout
        self.branch_heads, self.branch_logits = None, {}

    def add_branch_heads(self, modalities: Sequence[str], num_classes: int) -> None:
        """A classifier (the SwiGLU head at twice the encoder width) over each named modality's encoding."""
        unknown = [m for m in modalities if m not in self.modalities]
        if unknown:
            raise ValueError(f"{type(self).__name__} has no {unknown} branch to add a head to (has {self.modalities})")
        width, chosen = self.encoded_dim, [m for m in self.modalities if m in modalities]
        heads = {m: SwiGLUHead(width, 2 * width, num_classes, self.head_dropout) for m in chosen}
        self.branch_heads = nn.ModuleDict(heads)

    @property
    def head_modalities(self) -> tuple[str, ...]:
        """The modalities with a branch head of their own (empty without distillation)."""
        return tuple(self.branch_heads) if self.branch_heads is not None else ()

    def encode(self, features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each modality's encoder output (B, hidden), in model order; the branch heads' logits go to
        `branch_logits`. A branch head reads its own modality only, so masking in the fusion does not touch it."""
        encoded = {m: self.encoders[m](features[m]) for m in self.modalities}
        heads = self.branch_heads.items() if self.branch_heads is not None else ()
        self.branch_logits = {m: head(encoded[m]) for m, head in heads}
        return encoded


def _listed(names: frozenset[str], last: str) -> str:
    """'audio, text and video' (in the canonical modality order)."""
    ordered = [m for m in ("audio", "text", "video") if m in names]
    return ", ".join(ordered[:-1]) + f" {last} {ordered[-1]}" if len(ordered) > 1 else ordered[0]


def _letters(names: Sequence[str] | frozenset[str]) -> str:
    return "+".join(MODALITY_LETTERS[m] for m in ("audio", "text", "video") if m in names)


def check_modalities(name: str, modalities: Sequence[str]) -> None:
    """Raise ModalityMismatch unless the registered model `name` accepts exactly these modalities."""
    model_class = MODELS[name]
    given = set(modalities)
    extra, missing = given - model_class.accepts, model_class.requires - given
    if not given or extra or missing:
        need = (
            f"all of {_letters(model_class.requires)}"
            if model_class.requires
            else f"any of {_letters(model_class.accepts)}"
        )
        raise ModalityMismatch(
            f"model.name {name} takes {need}, got data.modalities "
            f"[{', '.join(MODALITY_LETTERS[m] for m in modalities)}]"
            + (f"; for {_letters(extra)} use one of {_models_accepting(extra)}" if extra else "")
        )


def _models_accepting(modalities: set[str]) -> str:
    return ", ".join(e.name for e in MODELS.entries() if modalities <= e.value.accepts) or "none"
