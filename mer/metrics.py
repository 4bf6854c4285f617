"""Classification metrics, computed in one place so training, evaluation and the results tables agree.

Averages run over the classes present in the evaluated labels: a corpus without `disgust`
must not have its macro-F1 dragged down by a class it never had (a common error in
cross-corpus tables), yet predictions of an absent class still count as mistakes. The absent
classes are listed beside every result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from mer_builder.labels import EMOTIONS

HEADLINE = ("acc", "macro_f1", "weighted_f1", "uar")


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = len(EMOTIONS)) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def classification_metrics(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, labels: Sequence[str] = EMOTIONS
) -> dict:
    """Accuracy (WA), macro-F1, weighted-F1 and UAR over the classes present in `y_true`, plus per-class
    precision/recall/F1/support, the absent classes and the confusion matrix (plain Python types)."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.shape[0]} labels but y_pred has {y_pred.shape[0]}")
    cm = confusion_matrix(y_true, y_pred, len(labels))
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    hits = np.diag(cm).astype(np.float64)
    precision, recall = _safe_divide(hits, predicted), _safe_divide(hits, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    present = support > 0
    n = int(support.sum())
    return {
        "n": n,
        "acc": float(hits.sum() / n) if n else math.nan,
        "macro_f1": float(f1[present].mean()) if present.any() else math.nan,
        "weighted_f1": float((f1 * support).sum() / n) if n else math.nan,
        "uar": float(recall[present].mean()) if present.any() else math.nan,
        "classes_present": [labels[int(i)] for i in np.flatnonzero(present)],
        "classes_absent": [labels[int(i)] for i in np.flatnonzero(~present)],
        "per_class": {
            labels[int(i)]: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i in np.flatnonzero(present)
        },
        "confusion_matrix": cm.tolist(),
    }


def head_metrics(
    head_logits: Mapping[str, np.ndarray],
    y_true: np.ndarray,
    labels: Sequence[str],
    teacher: np.ndarray | None = None,
    students: Iterable[str] = (),
) -> dict[str, dict[str, float]]:
    """Per branch head (cross-modal distillation) its n and headline metrics alone and, for a student with the
    `teacher`'s predicted classes given, `agreement`: the share of rows where its argmax is the teacher's."""
    students = set(students)
    out: dict[str, dict[str, float]] = {}
    for name, logits in head_logits.items():
        predicted = logits.argmax(1)
        metrics = classification_metrics(y_true, predicted, labels)
        out[name] = {k: metrics[k] for k in ("n", *HEADLINE)}
        if teacher is not None and name in students:
            out[name]["agreement"] = float(np.mean(predicted == teacher)) if len(predicted) else math.nan
    return out


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value)."""
    array = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if array.size == 0:
        return math.nan, math.nan
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


def summarize(results: Sequence[Mapping], keys: Sequence[str] = HEADLINE) -> dict[str, dict[str, float]]:
    """{metric: {"mean", "std", "n"}} over several runs (seeds or folds)."""
    summary = {}
    for key in keys:
        mean, std = mean_std(r[key] for r in results)
        summary[key] = {"mean": mean, "std": std, "n": len(results)}
    return summary


def format_mean_std(mean: float, std: float, n: int, scale: float = 100.0, digits: int = 1) -> str:
    """`71.3 ± 0.8` for several runs, `71.3` for one (in percent by default)."""
    if math.isnan(mean):
        return "n/a"
    text = f"{mean * scale:.{digits}f}"
    return f"{text} ± {std * scale:.{digits}f}" if n > 1 else text


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of (N, C) logits against integer labels; NaN for no rows."""
    if len(labels) == 0:
        return math.nan
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_norm - shifted[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)]))
