"""The model registry and the modality contract every registered model class declares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from torch import nn

from mer_builder.errors import InputError

from ..modalities import MODALITY_LETTERS
from ..registry import Registry

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
        cls, model_config: Mapping, modalities: tuple[str, ...], dims: dict[str, int], num_classes: int
    ) -> FusionModel:
        """The model from the `model` config section (each class reads the keys it has)."""
        common = {"hidden_dim": model_config["hidden_dim"], "dropout": model_config["dropout"]}
        make: Any = cls  # each subclass has its own constructor signature
        return make(modalities, dims, num_classes, **common, **cls.config_arguments(model_config))

    @classmethod
    def config_arguments(cls, model_config: Mapping) -> dict[str, Any]:
        return {}


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
