"""Task metrics of one set of predictions under many row weightings at once.

A bootstrap resample is a weighting of the rows (how often each row was drawn), so the metrics
take a weight matrix `(resamples, rows)` and return one value per resample, computed with array
operations instead of one scikit-learn call per resample. Weights of ones give the plain
metric. Each metric matches scikit-learn's with `sample_weight` (tested): balanced accuracy,
macro F1 (`zero_division=0`), ROC AUC (binary, or one-vs-rest macro over every class, which then
must all be present), log loss on probabilities clipped to [1e-15, 1], the expected calibration
error of the top label over 10 equal-width bins; R², mean absolute and root mean squared error.
"""

from __future__ import annotations

import numpy as np

CALIBRATION_BINS = 10


def _per_class(weights: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Weight of the rows of each class under each weighting: `(resamples, classes)`."""
    return weights @ member.astype(float)


def _auc(weights: np.ndarray, scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Weighted ROC AUC of `scores` for `positive` rows (ties count one half), per weighting.

    Rows are sorted by score once; the negative weight below each tie group comes from one
    cumulative sum, and is read only at the positive rows."""
    order = np.argsort(scores, kind="stable")
    ranked = scores[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ends = np.r_[starts[1:], ranked.size]
    group = np.repeat(np.arange(starts.size), ends - starts)
    is_positive = positive[order]
    w = weights[:, order]
    below = np.zeros((w.shape[0], w.shape[1] + 1))
    np.cumsum(np.where(is_positive, 0.0, w), axis=1, out=below[:, 1:])
    rows = np.flatnonzero(is_positive)
    low, high = below[:, starts[group[rows]]], below[:, ends[group[rows]]]
    positive_weight = w[:, rows]
    pos, neg = positive_weight.sum(axis=1), below[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            (pos > 0) & (neg > 0),
            (positive_weight * (low + 0.5 * (high - low))).sum(axis=1) / (pos * neg),
            np.nan,
        )


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC of `scores` for the `positive` rows (scikit-learn's `roc_auc_score`, without its
    per-call checks: permutation importance calls it hundreds of times)."""
    return float(_auc(np.ones((1, scores.size)), scores, positive.astype(bool))[0])


def classification_metrics(
    truth: np.ndarray, proba: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Classification metrics per weighting; `truth` holds class indices into `proba`'s columns."""
    classes = proba.shape[1]
    member = truth[:, None] == np.arange(classes)[None, :]
    predicted = proba.argmax(axis=1)
    chosen = predicted[:, None] == np.arange(classes)[None, :]
    support = _per_class(weights, member)
    hits = _per_class(weights, member & chosen)
    picks = _per_class(weights, chosen)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, hits / support, np.nan)
        balanced = np.nanmean(np.where(support > 0, recall, np.nan), axis=1)
        seen = (support + picks) > 0
        f1 = np.where(seen, 2 * hits / (support + picks), 0.0)
        macro_f1 = f1.sum(axis=1) / seen.sum(axis=1)
    total = weights.sum(axis=1)
    true_proba = np.clip(proba[np.arange(truth.size), truth], 1e-15, 1.0)
    log_loss = (weights * -np.log(true_proba)).sum(axis=1) / total
    if classes == 2:
        auc = _auc(weights, proba[:, 1], truth == 1)
    else:
        per_class = np.stack([_auc(weights, proba[:, c], truth == c) for c in range(classes)])
        auc = np.where((support > 0).all(axis=1), per_class.mean(axis=0), np.nan)
    confidence = proba.max(axis=1)
    correct = (predicted == truth).astype(float)
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    in_bin = (bins[:, None] == np.arange(CALIBRATION_BINS)[None, :]).astype(float)
    bin_weight = weights @ in_bin
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(bin_weight > 0, (weights * correct) @ in_bin / bin_weight, 0.0)
        mean_confidence = np.where(bin_weight > 0, (weights * confidence) @ in_bin / bin_weight, 0)
    calibration = (bin_weight / total[:, None] * np.abs(accuracy - mean_confidence)).sum(axis=1)
    return {
        "balanced_accuracy": balanced,
        "macro_f1": macro_f1,
        "roc_auc": auc,
        "log_loss": log_loss,
        "calibration_error": calibration,
    }


def regression_metrics(
    truth: np.ndarray, prediction: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Regression metrics per weighting."""
    total = weights.sum(axis=1)
    squared = (weights * (truth - prediction) ** 2).sum(axis=1)
    mean = weights @ truth / total
    spread = (weights * (truth[None, :] - mean[:, None]) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(spread > 0, 1 - squared / spread, np.nan)
    return {
        "r2": r2,
        "mae": (weights * np.abs(truth - prediction)).sum(axis=1) / total,
        "rmse": np.sqrt(squared / total),
    }


def bootstrap_weights(rows: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """How often each row is drawn in each of `resamples` bootstrap resamples."""
    return rng.multinomial(rows, np.full(rows, 1.0 / rows), size=resamples).astype(float)
