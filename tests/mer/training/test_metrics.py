import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, precision_recall_fscore_support

from mer.metrics import classification_metrics, format_mean_std, mean_std, summarize


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn_over_the_classes_present(seed):
    rng = np.random.default_rng(seed)
    present = rng.choice(7, size=rng.integers(2, 7), replace=False)
    y_true = rng.choice(present, size=300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 7, 300))  # may predict absent classes
    labels = sorted(set(y_true.tolist()))
    got = classification_metrics(y_true, y_pred)
    assert got["acc"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert got["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
    assert got["weighted_f1"] == pytest.approx(
        f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
    )
    assert got["uar"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    names = [["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"][i] for i in labels]
    assert list(got["per_class"]) == names
    for i, name in enumerate(names):
        assert got["per_class"][name] == pytest.approx(
            {"precision": precision[i], "recall": recall[i], "f1": f1[i], "support": support[i]}
        )
    assert sorted(got["classes_present"] + got["classes_absent"]) == sorted(
        ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]
    )


def test_absent_classes_are_listed_and_do_not_lower_the_averages():
    y_true = np.array([0, 0, 3, 3])
    got = classification_metrics(y_true, y_true)
    assert got["macro_f1"] == 1.0 and got["uar"] == 1.0
    assert got["classes_absent"] == ["disgust", "fear", "neutral", "sadness", "surprise"]
    wrong = classification_metrics(y_true, np.array([0, 1, 3, 3]))  # predicting an absent class still costs
    assert wrong["uar"] == pytest.approx(0.75) and wrong["acc"] == pytest.approx(0.75)
    assert np.asarray(wrong["confusion_matrix"])[0, 1] == 1


def test_mean_and_std_over_seeds():
    assert mean_std([0.5]) == (0.5, 0.0)
    mean, std = mean_std([0.6, 0.7, 0.8])
    assert mean == pytest.approx(0.7) and std == pytest.approx(0.1)
    summary = summarize(
        [
            {"acc": 0.6, "macro_f1": 0.5, "weighted_f1": 0.5, "uar": 0.4},
            {"acc": 0.8, "macro_f1": 0.7, "weighted_f1": 0.7, "uar": 0.6},
        ]
    )
    assert summary["acc"]["mean"] == pytest.approx(0.7) and summary["acc"]["n"] == 2
    assert format_mean_std(0.7, 0.1414, 2) == "70.0 ± 14.1"
    assert format_mean_std(0.7, 0.0, 1) == "70.0"
    assert format_mean_std(math.nan, math.nan, 0) == "n/a"
