"""mer: multi-corpus, multimodal emotion recognition (features, fusion models, protocols, prediction).

The Python API (docs/api.md): `mer.build`, `mer.extract`, `mer.pack`, `mer.train`, `mer.finetune`,
`mer.evaluate`, `mer.evaluate_finetuned` and `mer.Predictor`, one per pipeline stage; the `mer`
command's subcommands call exactly these.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Predictor", "build", "evaluate", "evaluate_finetuned", "extract", "finetune", "pack", "train"]
_API = ("build", "extract", "pack", "train", "finetune", "evaluate", "evaluate_finetuned")


def __getattr__(name: str) -> Any:
    # Imported lazily so `import mer` stays cheap (no torch) for the data-side tools.
    if name == "Predictor":
        from .prediction import Predictor

        return Predictor
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'mer' has no attribute {name!r}")
