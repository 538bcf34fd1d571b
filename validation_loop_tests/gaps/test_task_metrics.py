"""Vectorised task metrics against scikit-learn on the same bootstrap resamples."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)

from validation_loop.gaps.task_metrics import (
    bootstrap_weights,
    classification_metrics,
    regression_metrics,
    roc_auc,
)


def _calibration(truth: np.ndarray, proba: np.ndarray) -> float:
    """Top-label expected calibration error over 10 equal-width bins, row by row."""
    confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == truth
    bins = np.minimum((confidence * 10).astype(int), 9)
    return sum(
        (bins == b).mean() * abs(correct[bins == b].mean() - confidence[bins == b].mean())
        for b in np.unique(bins)
    )


def _sklearn(truth: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    classes = np.arange(proba.shape[1])
    predicted = proba.argmax(axis=1)
    if proba.shape[1] == 2:
        auc = roc_auc_score(truth == 1, proba[:, 1])
    else:
        auc = roc_auc_score(truth, proba, multi_class="ovr", labels=classes)
    return {
        "balanced_accuracy": balanced_accuracy_score(truth, predicted),
        "macro_f1": f1_score(truth, predicted, average="macro", zero_division=0),
        "roc_auc": auc,
        "log_loss": log_loss(truth, np.clip(proba, 1e-15, 1), labels=classes),
        "calibration_error": _calibration(truth, proba),
    }


@pytest.mark.parametrize("classes", [2, 5])
def test_classification_metrics_match_scikit_learn_on_resamples(classes: int) -> None:
    rng = np.random.default_rng(classes)
    rows = 300
    truth = rng.integers(0, classes, rows)
    logits = rng.normal(size=(rows, classes)) + 1.5 * (truth[:, None] == np.arange(classes))
    logits[:40] = np.round(logits[:40])  # tied scores
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    weights = np.vstack([np.ones(rows), bootstrap_weights(rows, 8, rng)])
    ours = classification_metrics(truth, proba, weights)
    for index, row_weights in enumerate(weights):
        drawn = np.repeat(np.arange(rows), row_weights.astype(int))
        theirs = _sklearn(truth[drawn], proba[drawn])
        for name, value in theirs.items():
            assert ours[name][index] == pytest.approx(value, abs=1e-9), (name, index)


def test_a_missing_class_makes_multiclass_auc_undefined() -> None:
    truth = np.array([0, 1, 0, 1])
    proba = np.full((4, 3), 1 / 3)
    assert np.isnan(classification_metrics(truth, proba, np.ones((1, 4)))["roc_auc"][0])


def test_regression_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    truth = rng.lognormal(size=200)
    prediction = truth + rng.normal(size=200)
    weights = np.vstack([np.ones(200), bootstrap_weights(200, 5, rng)])
    ours = regression_metrics(truth, prediction, weights)
    for index, row_weights in enumerate(weights):
        drawn = np.repeat(np.arange(200), row_weights.astype(int))
        t, p = truth[drawn], prediction[drawn]
        assert ours["r2"][index] == pytest.approx(r2_score(t, p))
        assert ours["mae"][index] == pytest.approx(mean_absolute_error(t, p))
        assert ours["rmse"][index] == pytest.approx(np.sqrt(np.mean((t - p) ** 2)))


def test_roc_auc_equals_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 2, 3_000)
    scores = np.round(rng.normal(truth * 0.4, 1.0), 1)  # many ties, across the classes too
    assert roc_auc(scores, truth == 1) == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
