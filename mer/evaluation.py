"""Running a model over a feature store and writing the evaluation outputs.

An evaluation folder holds
    metrics_eval.json       acc, macro_f1, weighted_f1, uar (over the classes present), classes_present,
                            classes_absent, per_class {precision, recall, f1, support}, confusion_matrix,
                            per_corpus, and where it came from (run, fold, seed, eval_set, checkpoint, ...)
    per_corpus.csv          the same headline metrics for each corpus in the set
    confusion_matrix.csv    counts, true classes as rows, predicted as columns
    confusion_matrix.png    the same, labelled, coloured by recall
    predictions.csv         id, dataset, true and predicted label, and the class probabilities per row

A checkpoint with branch heads (cross-modal distillation) also gets `branch_heads` in metrics_eval.json:
per head the same headline metrics of the head alone and, for a student, `agreement` (the share of rows
where it predicts what the teacher predicts; the checkpoint teacher is reloaded from its recorded path).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from mer_builder.errors import InputError
from mer_builder.fsutil import atomic_write_json, atomic_write_text, csv_text
from mer_builder.labels import label_space

from .features.store import NO_LABEL, FeatureStore, SubsetStore
from .inference import FUSION, predict_logits, predict_outputs
from .metrics import HEADLINE, classification_metrics, cross_entropy, head_metrics
from .modalities import modality_names
from .training.checkpoint import (
    CheckpointError,
    check_store_fits,
    checkpoint_kind,
    checkpoint_label_type,
    load_teacher,
    model_from_checkpoint,
)
from .training.losses import distill_teacher
from .training.plots import plot_confusion

logger = logging.getLogger(__name__)
EVAL_FILES = ("metrics_eval.json", "per_corpus.csv", "confusion_matrix.csv", "confusion_matrix.png", "predictions.csv")


def per_corpus_metrics(y_true: np.ndarray, y_pred: np.ndarray, datasets: np.ndarray, labels: Sequence[str]) -> dict:
    result = {}
    for corpus in sorted(set(datasets.tolist())):
        mask = datasets == corpus
        metrics = classification_metrics(y_true[mask], y_pred[mask], labels)
        result[corpus] = {k: metrics[k] for k in ("n", *HEADLINE, "classes_absent")}
    return result


def write_evaluation(
    output_dir: Path,
    logits: np.ndarray,
    y_true: np.ndarray,
    meta: Sequence[Mapping],
    labels: Sequence[str],
    info: Mapping,
) -> dict:
    """Compute the metrics of `logits` against `y_true` and write the evaluation folder; returns the metrics."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    y_pred = logits.argmax(axis=1) if len(logits) else np.zeros(0, np.int64)
    datasets = np.asarray([str(m.get("dataset", "")) for m in meta], dtype=object)
    metrics = classification_metrics(y_true, y_pred, labels)
    metrics["loss"] = cross_entropy(logits, y_true)
    metrics["per_corpus"] = per_corpus_metrics(y_true, y_pred, datasets, labels)
    result = {**dict(info), "labels": list(labels), **metrics}
    atomic_write_json(output_dir / "metrics_eval.json", result)

    corpus_rows = [
        {
            "corpus": c,
            **{k: v for k, v in m.items() if k != "classes_absent"},
            "classes_absent": " ".join(m["classes_absent"]),
        }
        for c, m in metrics["per_corpus"].items()
    ]
    atomic_write_text(
        output_dir / "per_corpus.csv", csv_text(corpus_rows, ["corpus", "n", *HEADLINE, "classes_absent"])
    )

    matrix_rows = [
        {"true": labels[i], **dict(zip(labels, row, strict=True))} for i, row in enumerate(metrics["confusion_matrix"])
    ]
    atomic_write_text(output_dir / "confusion_matrix.csv", csv_text(matrix_rows, ["true", *labels]))
    plot_confusion(
        metrics["confusion_matrix"], labels, output_dir / "confusion_matrix.png", title=str(info.get("eval_set", ""))
    )

    shifted = logits - logits.max(axis=1, keepdims=True) if len(logits) else logits
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True) if len(logits) else logits
    prediction_rows = [
        {
            "id": m.get("id", ""),
            "dataset": m.get("dataset", ""),
            "true": labels[int(t)],
            "pred": labels[int(p)],
            **{f"p_{name}": f"{q:.5f}" for name, q in zip(labels, prob, strict=True)},
        }
        for m, t, p, prob in zip(meta, y_true, y_pred, probs, strict=True)
    ]
    columns = ["id", "dataset", "true", "pred", *[f"p_{name}" for name in labels]]
    atomic_write_text(output_dir / "predictions.csv", csv_text(prediction_rows, columns))
    return result


def evaluate_checkpoint(
    checkpoint: Mapping,
    store: FeatureStore,
    output_dir: Path,
    eval_set: str,
    source: str,
    batch_size: int,
    device: torch.device,
    quiet: bool = True,
    **info: object,
) -> dict:
    """Evaluate a loaded checkpoint on every row of `store` and write the evaluation folder."""
    where = str(info.get("eval_dir", eval_set))
    label_type = checkpoint_label_type(checkpoint)
    try:
        classes = label_space(label_type).classes
    except ValueError as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    if list(checkpoint["labels"]) != list(classes):
        raise CheckpointError(
            f"{source}: labels {checkpoint['labels']} differ from this mer's {label_type} label order {classes}"
        )
    if store.label_type != label_type:
        raise CheckpointError(f"{source} predicts {label_type} but {where} was opened with {store.label_type} labels")
    unlabelled = int((store.labels == NO_LABEL).sum())
    if unlabelled:
        labelled = np.flatnonzero(store.labels != NO_LABEL)
        if not len(labelled):
            raise InputError(f"{where}: no row has a {label_type} label, which {source} predicts")
        logger.info("%s: %d rows without a %s label left out", where, unlabelled, label_type)
        store = SubsetStore(store, labelled)
    store_kind = "finetune" if getattr(store, "kind", "features") != "features" else "features"
    if checkpoint_kind(checkpoint) != store_kind:
        raise CheckpointError(
            f"{source} is a {checkpoint_kind(checkpoint)} checkpoint but {where} holds "
            f"{'raw inputs (a processed folder)' if store_kind == 'finetune' else 'feature vectors'}; evaluate "
            + (
                "fine-tuned checkpoints with evaluate_hf_e2e.py (or evaluate.py --set data.processed_dir=...)"
                if checkpoint_kind(checkpoint) == "finetune"
                else "train.py checkpoints on feature dirs (--set data.eval_dir=...)"
            )
        )
    if store_kind == "features":
        check_store_fits(
            checkpoint, store.modalities, store.dims, where, store.feature_config, getattr(store, "frame_dims", {})
        )
    if (
        checkpoint.get("feature_config")
        and store.feature_config
        and checkpoint["feature_config"] != store.feature_config
    ):
        changed = sorted(
            k
            for k in set(checkpoint["feature_config"]) | set(store.feature_config)
            if checkpoint["feature_config"].get(k) != store.feature_config.get(k)
        )
        logger.warning(
            "%s was extracted with a different feature config than %s (differs in %s)", where, source, changed
        )
    model = model_from_checkpoint(checkpoint, source).to(device)
    outputs = predict_outputs(model, store, batch_size, device, quiet, desc=f"evaluate {eval_set}")
    logits = outputs.pop(FUSION)
    experiment = checkpoint.get("config", {}).get("experiment", {})
    provenance = {
        "eval_set": eval_set,
        "run": experiment.get("name"),
        "protocol": experiment.get("protocol"),
        "fold": checkpoint.get("fold"),
        "seed": checkpoint.get("seed"),
        "epoch": checkpoint.get("epoch"),
        "model": checkpoint["model_config"]["name"],
        "modalities": list(checkpoint["modalities"]),
        "checkpoint": source,
        "label_type": label_type,
        **({"unlabelled_rows": unlabelled} if unlabelled else {}),
        **info,
    }
    if outputs:
        provenance["branch_heads"] = branch_head_metrics(checkpoint, outputs, store, batch_size, device)
    return write_evaluation(output_dir, logits, store.labels, store.meta, list(checkpoint["labels"]), provenance)


def branch_head_metrics(
    checkpoint: Mapping, outputs: Mapping[str, np.ndarray], store: FeatureStore, batch_size: int, device: torch.device
) -> dict:
    """`metrics.head_metrics` of each branch head, with each student's agreement with the teacher's predictions
    (left out when a checkpoint teacher is no longer where training found it)."""
    names = list(checkpoint["labels"])
    distill = checkpoint.get("distill") or {}
    teacher_kind, teacher_name = distill_teacher(distill) or ("", "")
    teacher: np.ndarray | None = None
    if teacher_kind == "modality" and teacher_name in outputs:
        teacher = outputs[teacher_name].argmax(1)
    elif teacher_kind == "ckpt":
        try:
            model = load_teacher(teacher_name, names, store, device)
            teacher = predict_logits(model, store, batch_size, device).argmax(1)
        except CheckpointError as exc:
            logger.warning("agreement with the distillation teacher left out: %s", exc)
    students = modality_names(distill.get("students") or ())
    return head_metrics(outputs, store.labels, names, teacher, students)


def headline(metrics: Mapping) -> str:
    """`acc 71.2  macro-F1 65.0  wF1 70.8  UAR 66.1  (n=512; absent: disgust)` for logs."""
    text = (
        f"acc {metrics['acc'] * 100:.1f}  macro-F1 {metrics['macro_f1'] * 100:.1f}  "
        f"wF1 {metrics['weighted_f1'] * 100:.1f}  UAR {metrics['uar'] * 100:.1f}  (n={metrics['n']}"
    )
    absent = metrics.get("classes_absent") or []
    return text + (f"; absent: {', '.join(absent)})" if absent else ")")


def read_metrics(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
