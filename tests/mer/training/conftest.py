"""Synthetic feature roots written in the documented store formats, so training tests never need the extractors.

`write_features_root` lays out `<root>/{train,val,testA,testB}/` as memmap dirs (or pickle dirs)
with rows from several corpora. The label is written into one modality (`signal`) as a noisy
class prototype; the other modalities are pure noise, so a model that learns at all reaches
a high UAR, and one that ignores the signal modality cannot.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mer_builder.labels import EMOTIONS

# A small model trained quickly on the demo corpus's features, every epoch run (`--set` values).
DEMO_TRAINING = [
    "model.hidden_dim=32",
    "model.dropout=0.1",
    "training.epochs=12",
    "training.batch_size=16",
    "training.lr=3e-3",
    "training.warmup_epochs=0",
    "training.num_threads=1",
    "training.early_stopping.patience=null",
]
FEATURE_CONFIG = {"audio": {"kind": "synthetic", "dim": 12}, "text": {"kind": "synthetic", "dim": 16}}
# corpus -> (groups its rows fall in, classes it has)
CORPORA = {
    "RAVDESS": (("train", "val", "testA"), (0, 1, 2, 3, 4, 5, 6)),
    "CREMA-D": (("train", "val", "testA"), (0, 1, 2, 3, 4, 5)),
    "MELD": (("train", "val", "testB"), (0, 1, 2, 3, 4, 5, 6)),
}
IEMOCAP_GROUPS = {"Ses01": "train", "Ses02": "train", "Ses03": "train", "Ses04": "val", "Ses05": "testA"}


def _split(group: str) -> str:
    return "test" if group.startswith("test") else group


def synthetic_rows(corpora=CORPORA, per_group: int = 60, iemocap: bool = False, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for corpus, (groups, classes) in corpora.items():
        for group in groups:
            for i in range(per_group):
                label = int(classes[i % len(classes)])
                speaker = f"{group}{i % 3}"
                rows.append(
                    {
                        "id": f"{corpus}/{group}_{i:04d}", "dataset": corpus, "split": _split(group),
                        "group": group, "speaker_id": speaker, "emotion": EMOTIONS[label], "true_label": label,
                    }
                )  # fmt: skip
    if iemocap:
        for session, group in IEMOCAP_GROUPS.items():
            for i in range(per_group):
                label = (0, 3, 4, 5)[i % 4]
                gender = "MF"[i % 2]
                rows.append(
                    {
                        "id": f"IEMOCAP/{session}{gender}_impro01_{gender}{i:03d}", "dataset": "IEMOCAP",
                        "split": _split(group), "group": group, "speaker_id": f"{session}{gender}",
                        "emotion": EMOTIONS[label], "true_label": label, "session": session,
                    }
                )  # fmt: skip
    rng.shuffle(rows)
    return rows


def synthetic_features(rows, dims, signal: str = "text", strength: float = 3.0, seed: int = 0):
    """Per modality (N, D) float32: the signal modality carries a class prototype, the others noise."""
    rng = np.random.default_rng(seed)
    labels = np.asarray([r["true_label"] for r in rows])
    out = {}
    for m, d in dims.items():
        x = rng.standard_normal((len(rows), d)).astype(np.float32)
        if m == signal:
            prototypes = np.random.default_rng(123).standard_normal((len(EMOTIONS), d)).astype(np.float32)
            x += strength * prototypes[labels]
        out[m] = x * 5.0 + 2.0  # off-scale on purpose: the models must standardise
    return out, labels


def write_memmap_dir(path: Path, meta, features, labels, feature_config=FEATURE_CONFIG) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for m, x in features.items():
        np.save(path / f"{m}.npy", x)
    np.save(path / "labels.npy", np.asarray(labels, dtype=np.int64))
    (path / "meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in meta), encoding="utf-8")
    info = {
        "modalities": list(features),
        "dims": {m: int(x.shape[1]) for m, x in features.items()},
        "dtype": "float32",
        "n_rows": len(labels),
        "feature_config": feature_config,
    }
    (path / "info.json").write_text(json.dumps(info), encoding="utf-8")


def write_pickle_dir(path: Path, meta, features, feature_config=FEATURE_CONFIG) -> None:
    path.mkdir(parents=True, exist_ok=True)
    index = []
    for i, row in enumerate(meta):
        rel = f"{row['dataset']}/{i:05d}.pkl"
        item = {**row, **{f"{m}_features": x[i] for m, x in features.items()}}
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes(pickle.dumps(item))
        index.append({"path": rel, **row})
    (path / "index.jsonl").write_text("".join(json.dumps(r) + "\n" for r in index), encoding="utf-8")
    (path.parent / "feature_info.json").write_text(json.dumps({"config": feature_config}), encoding="utf-8")


def write_features_root(
    root: Path,
    dims=None,
    signal: str = "text",
    per_group: int = 60,
    iemocap: bool = False,
    corpora=CORPORA,
    fmt: str = "memmap",
    seed: int = 0,
) -> Path:
    dims = dims or {"audio": 12, "text": 16}
    rows = synthetic_rows(corpora, per_group, iemocap, seed)
    features, labels = synthetic_features(rows, dims, signal, seed=seed)
    for group in ("train", "val", "testA", "testB"):
        index = [i for i, r in enumerate(rows) if r["group"] == group]
        if not index:
            continue
        meta = [rows[i] for i in index]
        group_features = {m: x[index] for m, x in features.items()}
        if fmt == "memmap":
            write_memmap_dir(root / group, meta, group_features, labels[index])
        else:
            write_pickle_dir(root / group, meta, group_features)
    return root


@pytest.fixture
def synth():
    """The synthetic-data helpers of this module (test modules cannot import conftest under importlib mode)."""
    return SimpleNamespace(
        rows=synthetic_rows,
        features=synthetic_features,
        write_root=write_features_root,
        write_memmap=write_memmap_dir,
        write_pickle=write_pickle_dir,
        sets=small_config,
    )


@pytest.fixture
def features_root(tmp_path):
    return write_features_root(tmp_path / "features")


def small_config(features_dir: Path, output_dir: Path, **sets) -> list[str]:
    """`--set` strings for a quick CPU run."""
    base = {
        "data.features_dir": str(features_dir),
        "experiment.output_dir": str(output_dir),
        "model.hidden_dim": 32,
        "model.dropout": 0.1,
        "training.epochs": 4,
        "training.batch_size": 32,
        "training.lr": 3e-3,
        "training.num_threads": 1,
    }
    base.update(sets)
    return [f"{k}={v}" for k, v in base.items()]
