"""The model registry and the modality contract every registered model class declares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from torch import nn

from mer_builder.errors import InputError

from ..modalities import MODALITY_LETTERS
from ..registry import Registry
from .layers import ModalityEncoder

MODELS: Registry[Any] = Registry("model")


class ModalityMismatch(InputError, ValueError):
    """The model cannot take these modalities; the message says which it accepts."""


class FusionModel(nn.Module):
    """The base of every registered model: what it declares, and what every model instance has.

    accepts:  the modalities the model can use (a subset of audio, text, video);
    requires: the ones it cannot work without (empty: any non-empty subset of `accepts`);
    modalities, encoders: the modalities it was built for, in input order, and their encoders.
    """

    accepts: ClassVar[frozenset[str]] = frozenset()
    requires: ClassVar[frozenset[str]] = frozenset()
    modalities: tuple[str, ...]
    encoders: nn.ModuleDict

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
