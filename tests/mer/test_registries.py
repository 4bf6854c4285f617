"""Each name defined once: models, protocols and losses live in registries that the config, --list_keys,
errors and docs read; model classes declare their modalities; training never imports evaluation."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from mer.config import SCHEMA, ConfigError, choices_of, describe_keys, load_config, validate
from mer.features.isolation import finite_or_error, isolated, vector_problem
from mer.metrics import cross_entropy
from mer.models import MODELS, ModalityMismatch, build_model, check_modalities
from mer.protocols import PROTOCOLS
from mer.registry import UnknownNameError
from mer.training.losses import LOSSES, FocalLoss

REPO = Path(__file__).resolve().parents[2]
REGISTRIES = {"model.name": MODELS, "experiment.protocol": PROTOCOLS, "training.loss": LOSSES}


@pytest.mark.parametrize("key", list(REGISTRIES))
def test_the_config_list_keys_and_docs_read_each_registry(key):
    registry = REGISTRIES[key]
    assert choices_of(SCHEMA[key]) == registry.names() and len(registry.names()) >= 2
    listing = describe_keys()
    docs = (REPO / "docs" / "training.md").read_text(encoding="utf-8")
    for entry in registry.entries():
        assert entry.summary in listing
        assert f"`{entry.name}`" in docs, f"docs/training.md does not describe the {registry.kind} {entry.name}"
    with pytest.raises(ConfigError, match=rf"{key}: expected one of \[.*'{registry.names()[-1]}'\]"):
        validate(load_config(None, ["experiment.name=x", f"{key}=nonesuch"]))
    with pytest.raises(UnknownNameError, match=rf"unknown {registry.kind} 'nonesuch'; expected one of"):
        registry["nonesuch"]


def test_each_model_declares_the_modalities_it_accepts():
    for entry in MODELS.entries():
        accepts, requires = entry.value.accepts, entry.value.requires
        assert accepts and requires <= accepts <= {"audio", "text", "video"}
        modalities = tuple(m for m in ("audio", "text", "video") if m in accepts)
        letters = "[" + ",".join(m[0].upper() for m in modalities) + "]"
        sets = ["experiment.name=x", f"model.name={entry.name}", f"data.modalities={letters}"]
        config = validate(load_config(None, sets))["model"]
        model = build_model(config, modalities, dict.fromkeys(modalities, 6), 7)
        assert model.modalities == modalities
        inputs = {m: torch.zeros(2, 6) for m in modalities}
        if getattr(model, "reads_frames", False):  # frames (B, T, 6) and their masks instead of vectors
            inputs = {f"{m}_frames": torch.zeros(2, 3, 6) for m in modalities}
            inputs |= {f"{m}_frames_mask": torch.ones(2, 3, dtype=torch.bool) for m in modalities}
        assert model(inputs).shape == (2, 7)
    with pytest.raises(ModalityMismatch, match=r"flexible_at takes any of A\+T, got .*\[A, V\]; for V use one of"):
        check_modalities("flexible_at", ("audio", "video"))
    with pytest.raises(ConfigError, match=r"gated_avt takes all of A\+T\+V"):
        validate(load_config(None, ["experiment.name=x", "model.name=gated_avt", "data.modalities=[A,T]"]))


def test_focal_loss_is_cross_entropy_at_gamma_zero_and_smaller_above():
    torch.manual_seed(0)
    logits, target = torch.randn(16, 7), torch.randint(0, 7, (16,))
    weights = torch.rand(7) + 0.5
    reference = torch.nn.functional.cross_entropy(logits, target, weight=weights, label_smoothing=0.1)
    assert torch.allclose(FocalLoss(0.0, weights, 0.1)(logits, target), reference, atol=1e-6)
    assert FocalLoss(2.0, weights, 0.1)(logits, target) < reference
    training = validate(load_config(None, ["experiment.name=x", "training.loss=focal"]))["training"]
    assert isinstance(LOSSES[training["loss"]](training, None), FocalLoss)


def test_numpy_cross_entropy_matches_torch():
    logits, labels = np.random.default_rng(0).normal(size=(9, 7)), np.arange(9) % 7
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    assert cross_entropy(logits, labels) == pytest.approx(expected, rel=1e-9)
    assert np.isnan(cross_entropy(np.zeros((0, 7)), np.zeros(0, np.int64)))


def test_one_bad_item_fails_only_itself():
    def compute(batch):
        if "bad" in batch:
            raise ValueError("cannot decode bad")
        return [f"ok:{x}" for x in batch]

    out = isolated(compute, ["a", "bad", "c", "d"], batch_size=2)
    assert out[0] == "ok:a" and isinstance(out[1], ValueError) and out[2:] == ["ok:c", "ok:d"]
    assert vector_problem("audio", np.ones(3), 4)[0] == "dimension_mismatch"
    assert vector_problem("audio", np.array([1.0, np.nan]))[0] == "non_finite_features"
    checked = finite_or_error([np.ones(2), np.array([np.inf, 0.0])], "text")
    assert isinstance(checked[1], ValueError) and "text features contain NaN or inf" in str(checked[1])


def _imports(path: Path) -> set[str]:
    names = set()
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            names.add(".".join(filter(None, [base, node.module or ""])))
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_training_never_imports_evaluation_and_the_device_is_chosen_in_one_place():
    for path in (REPO / "mer" / "training").glob("*.py"):
        assert not {"mer.evaluation", "mer.experiment"} & _imports(path), path
    assert "mer.training.trainer" not in _imports(REPO / "mer" / "evaluation.py")
    defining = [p for p in (REPO / "mer").rglob("*.py") if "def resolve_device(" in p.read_text(encoding="utf-8")]
    assert defining == [REPO / "mer" / "device.py"]
