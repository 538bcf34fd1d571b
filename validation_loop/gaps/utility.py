"""Utility: train on synthetic, test on human — overall and slice by slice.

The loop's task model is fitted on a bounded synthetic sample and scored on human truth; the
same model cross-validated on that human truth is the reference. Each overall metric's gap comes
with a paired bootstrap interval over the human rows. Slices (every value of every slice column,
every pair of slice columns, and automatic slices: categorical values and numeric quartiles, up
to two conditions) are tested on per-row losses: inside a slice, how much more often the
synthetic-trained model is wrong (classification) or how much larger its error is relative to
the reference's mean error (regression), with a one-sided z-test. Slices are ranked by damage,
the gap times the slice's share of human rows, and the worst ones are explained.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations, pairwise

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from validation_loop.gaps.distances import tv_distance
from validation_loop.gaps.inputs import GapInputs
from validation_loop.gaps.modeling import (
    describe_estimator,
    features,
    head,
    labels,
    preprocessor,
    task_model,
)
from validation_loop.gaps.profile import aligned_counts
from validation_loop.gaps.records import Finding
from validation_loop.gaps.significance import ks_test
from validation_loop.spec import Task

QUARTILES = [0.25, 0.5, 0.75]
PAIR_CANDIDATES = 10
EXPLAINED_SLICES = 10
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Predictions:
    """Both models' predictions on the human test rows (probabilities for classification)."""

    truth: np.ndarray
    classes: list[str]
    synthetic: np.ndarray
    reference: np.ndarray
    model_name: str


def calibration_error(truth: np.ndarray, proba: np.ndarray, classes: list[str]) -> float:
    """Expected calibration error of the top-label confidence over 10 equal-width bins."""
    confidence = proba.max(axis=1)
    correct = np.asarray(classes)[proba.argmax(axis=1)] == truth
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    error = 0.0
    for b in np.unique(bins):
        inside = bins == b
        error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def _classification_metrics() -> dict[str, tuple[Callable, str | None]]:
    """Metric name -> (function of truth, probabilities, classes; its rule)."""

    def predicted(proba: np.ndarray, classes: list[str]) -> np.ndarray:
        return np.asarray(classes)[proba.argmax(axis=1)]

    def auc(truth: np.ndarray, proba: np.ndarray, classes: list[str]) -> float:
        present = np.unique(truth)
        if present.size < 2:
            return math.nan
        if len(classes) == 2:
            return float(roc_auc_score(truth == classes[1], proba[:, 1]))
        if present.size < len(classes):
            return math.nan
        return float(roc_auc_score(truth, proba, multi_class="ovr", labels=classes))

    return {
        "balanced_accuracy": (
            lambda t, p, c: float(balanced_accuracy_score(t, predicted(p, c))),
            "utility.score_drop",
        ),
        "macro_f1": (
            lambda t, p, c: float(f1_score(t, predicted(p, c), average="macro", zero_division=0)),
            "utility.score_drop",
        ),
        "roc_auc": (auc, "utility.score_drop"),
        "log_loss": (lambda t, p, c: float(log_loss(t, np.clip(p, 1e-15, 1), labels=c)), None),
        "calibration_error": (calibration_error, None),
    }


def _regression_metrics() -> dict[str, tuple[Callable, str | None]]:
    """Metric name -> (function of truth, prediction, unused; its rule)."""
    return {
        "r2": (lambda t, p, _: float(r2_score(t, p)), "utility.score_drop"),
        "mae": (lambda t, p, _: float(mean_absolute_error(t, p)), "utility.error_increase"),
        "rmse": (lambda t, p, _: float(np.sqrt(np.mean((t - p) ** 2))), "utility.error_increase"),
    }


HIGHER_IS_BETTER = {"balanced_accuracy", "macro_f1", "roc_auc", "r2"}


def _gap(name: str, synthetic: float, reference: float) -> float:
    """How much worse the synthetic-trained model is (relative for MAE and RMSE)."""
    if name in HIGHER_IS_BETTER:
        return reference - synthetic
    if name in ("mae", "rmse"):
        return (synthetic - reference) / reference if reference > 0 else math.nan
    return synthetic - reference


def _fit_predict(inputs: GapInputs) -> tuple[Predictions, pd.DataFrame, pd.DataFrame] | None:
    """Fit on synthetic, predict human; cross-validate the same model on human."""
    spec, columns = inputs.spec, inputs.columns
    rows = spec.models.utility_rows
    train = head(inputs.synthetic_sample, rows)
    test = head(inputs.human_sample, rows)
    train = train[train[columns.label].notna()].reset_index(drop=True)
    test = test[test[columns.label].notna()].reset_index(drop=True)
    if len(train) < 20 or len(test) < 2 * spec.models.folds:
        return None
    x_train, y_train = features(train, columns, False), labels(train, columns)
    x_test, y_test = features(test, columns, False), labels(test, columns)
    model = task_model(spec, x_train, columns)
    name = describe_estimator(model)
    classification = spec.task is Task.classification
    if classification and np.unique(y_train).size < 2:
        model = Pipeline(
            [
                ("prepare", preprocessor(x_train, columns)),
                ("model", DummyClassifier(strategy="most_frequent")),
            ]
        )
        name = f"constant (synthetic has one class, {y_train[0]!r})"
    classes = sorted(set(y_test) | set(y_train)) if classification else []
    model.fit(x_train, y_train)
    reference_model = task_model(spec, x_test, columns)
    counts = pd.Series(y_test).value_counts() if classification else None
    if classification and counts is not None and counts.min() >= spec.models.folds:
        folds = StratifiedKFold(spec.models.folds, shuffle=True, random_state=spec.seed)
    else:
        folds = KFold(spec.models.folds, shuffle=True, random_state=spec.seed)
    if classification:
        synthetic = _aligned_proba(model.predict_proba(x_test), model.classes_, classes)
        if np.unique(y_test).size < 2:
            reference_model = Pipeline(
                [
                    ("prepare", preprocessor(x_test, columns)),
                    ("model", DummyClassifier(strategy="most_frequent")),
                ]
            )
        reference = np.zeros((len(y_test), len(classes)))
        for fit_rows, score_rows in folds.split(x_test, y_test):
            fold_model = reference_model.fit(x_test.iloc[fit_rows], y_test[fit_rows])
            reference[score_rows] = _aligned_proba(
                fold_model.predict_proba(x_test.iloc[score_rows]), fold_model.classes_, classes
            )
    else:
        if np.unique(y_train).size < 2:
            model = Pipeline(
                [("prepare", preprocessor(x_train, columns)), ("model", DummyRegressor())]
            ).fit(x_train, y_train)
        synthetic = model.predict(x_test)
        reference = cross_val_predict(reference_model, x_test, y_test, cv=folds)
    return Predictions(y_test, classes, synthetic, reference, name), test, train


def _aligned_proba(proba: np.ndarray, fitted: np.ndarray, classes: list[str]) -> np.ndarray:
    """Probabilities over `classes` (a class the model never saw gets 0)."""
    out = np.zeros((proba.shape[0], len(classes)))
    for column, label in enumerate(fitted):
        out[:, classes.index(str(label))] = proba[:, column]
    return out


def _overall(inputs: GapInputs, result: Predictions) -> list[Finding]:
    """Every task metric for both models, the gap, a paired bootstrap interval and p-value."""
    spec = inputs.spec
    metrics = (
        _classification_metrics() if spec.task is Task.classification else _regression_metrics()
    )
    rng = np.random.default_rng(spec.seed)
    samples = [
        rng.integers(0, len(result.truth), len(result.truth)) for _ in range(spec.models.bootstrap)
    ]
    findings = []
    for name, (metric, rule) in metrics.items():
        syn = metric(result.truth, result.synthetic, result.classes)
        ref = metric(result.truth, result.reference, result.classes)
        gap = _gap(name, syn, ref)
        boot = np.array(
            [
                _gap(
                    name,
                    metric(result.truth[i], result.synthetic[i], result.classes),
                    metric(result.truth[i], result.reference[i], result.classes),
                )
                for i in samples
            ]
        )
        boot = boot[np.isfinite(boot)]
        if boot.size == 0 or math.isnan(gap):
            continue
        low, high = np.quantile(boot, [0.025, 0.975])
        spread = float(boot.std(ddof=1)) if boot.size > 1 else 0.0
        # One-sided: is the synthetic-trained model worse? Normal approximation with the
        # bootstrap standard error (the share of resamples <= 0 cannot go below 1/B).
        p = float(stats.norm.sf(gap / spread)) if spread > 0 else (0.0 if gap > 0 else 1.0)
        findings.append(
            Finding(
                "utility",
                f"{name}_gap",
                (inputs.columns.label,),
                gap,
                f"{result.model_name} trained on synthetic scores {name} {syn:.3f} on human data, "
                f"against {ref:.3f} trained on human data (cross-validated): gap {gap:.3f} "
                f"(95% interval {low:.3f} to {high:.3f}, {len(result.truth)} human rows)",
                "find the slices where the synthetic-trained model fails, and fix them",
                p if rule else None,
                rule,
            )
        )
    return findings


def _conditions(test: pd.DataFrame, inputs: GapInputs) -> list[dict[str, object]]:
    """Single conditions: each categorical value, each numeric column's human quartile bin."""
    columns = inputs.columns
    conditions: list[dict[str, object]] = []
    for column in columns.compared:
        if column == columns.label:
            continue
        if column in columns.numeric:
            values = test[column].to_numpy(dtype=float)
            if not np.isfinite(values).any():
                continue
            edges = np.unique(np.nanquantile(values, QUARTILES))
            bounds = [-math.inf, *edges.tolist(), math.inf]
            conditions += [{column: (low, high)} for low, high in pairwise(bounds)]
        else:
            conditions += [{column: value} for value in test[column].dropna().unique()]
    return conditions


def _mask(frame: pd.DataFrame, condition: dict[str, object]) -> np.ndarray:
    """Rows of `frame` that meet every condition."""
    mask = np.ones(len(frame), dtype=bool)
    for column, value in condition.items():
        if isinstance(value, tuple):
            values = frame[column].to_numpy(dtype=float)
            mask &= (values > value[0]) & (values <= value[1])
        else:
            mask &= (frame[column].astype("object") == value).to_numpy()
    return mask


def _label(condition: dict[str, object]) -> dict[str, object]:
    """A condition as the record's `slice`: numeric bins as `(low, high]` strings."""
    return {
        c: f"({v[0]:.4g}, {v[1]:.4g}]" if isinstance(v, tuple) else v for c, v in condition.items()
    }


def _explain(
    condition: dict[str, object], test: pd.DataFrame, train: pd.DataFrame, inputs: GapInputs
) -> str:
    """What differs inside a slice: its share, its label, the most different feature."""
    columns = inputs.columns
    h_rows, s_rows = test[_mask(test, condition)], train[_mask(train, condition)]
    parts = [
        f"share {len(s_rows) / max(len(train), 1):.1%} of synthetic against "
        f"{len(h_rows) / len(test):.1%} of human rows"
    ]
    label = columns.label
    if len(s_rows) == 0:
        return parts[0] + " (missing from synthetic)"
    if columns.task is Task.classification:
        common = h_rows[label].astype(str).value_counts().index[0]
        parts.append(
            f"{label}={common} in {np.mean(s_rows[label].astype(str) == common):.0%} "
            f"of synthetic and {np.mean(h_rows[label].astype(str) == common):.0%} "
            "of human rows"
        )
    else:
        parts.append(
            f"mean {label} {s_rows[label].mean():.3g} in synthetic and "
            f"{h_rows[label].mean():.3g} in human"
        )
    worst, worst_value = None, 0.0
    for column in columns.compared:
        if column == label or column in condition:
            continue
        if column in columns.numeric:
            value = ks_test(
                h_rows[column].to_numpy(dtype=float), s_rows[column].to_numpy(dtype=float)
            )[0]
        else:
            _, h, s = aligned_counts(
                h_rows[column].dropna().astype(str).value_counts().to_dict(),
                s_rows[column].dropna().astype(str).value_counts().to_dict(),
            )
            value = tv_distance(h, s) if h.sum() and s.sum() else math.nan
        if math.isfinite(value) and value > worst_value:
            worst, worst_value = column, value
    if worst is not None:
        parts.append(f"'{worst}' differs most inside it ({worst_value:.2f})")
    return "; ".join(parts)


def _per_row_loss(result: Predictions, task: Task) -> np.ndarray:
    """How much worse the synthetic-trained model is on each human row."""
    if task is Task.classification:
        classes = np.asarray(result.classes)
        wrong_syn = classes[result.synthetic.argmax(axis=1)] != result.truth
        wrong_ref = classes[result.reference.argmax(axis=1)] != result.truth
        return wrong_syn.astype(float) - wrong_ref.astype(float)
    scale = np.mean(np.abs(result.reference - result.truth)) or 1.0
    return (np.abs(result.synthetic - result.truth) - np.abs(result.reference - result.truth)) / (
        scale
    )


def _slices(
    inputs: GapInputs, result: Predictions, test: pd.DataFrame, train: pd.DataFrame
) -> list[Finding]:
    """Slice gaps: spec slices and pairs, automatic slices up to two conditions."""
    spec, columns = inputs.spec, inputs.columns
    loss = _per_row_loss(result, spec.task)
    support = spec.models.min_slice_support
    singles = _conditions(test, inputs)
    tested: dict[tuple, tuple[dict, np.ndarray]] = {}

    def consider(condition: dict[str, object]) -> None:
        key = tuple(sorted((c, str(v)) for c, v in condition.items()))
        if key in tested:
            return
        mask = _mask(test, condition)
        if mask.sum() >= support:
            tested[key] = (condition, mask)

    for condition in singles:
        consider(condition)
    by_damage = sorted(tested.values(), key=lambda cm: -loss[cm[1]].mean() * cm[1].mean())
    spec_pairs = [
        {a: va, b: vb}
        for a, b in combinations(columns.slices, 2)
        for va in test[a].dropna().unique()
        for vb in test[b].dropna().unique()
    ]
    top = [condition for condition, _ in by_damage[:PAIR_CANDIDATES]]
    auto_pairs = [{**x, **y} for x, y in combinations(top, 2) if not set(x) & set(y)]
    for condition in [*spec_pairs, *auto_pairs]:
        consider(condition)
    metric = "slice_accuracy_drop" if spec.task is Task.classification else ("slice_error_increase")
    scored = []
    for condition, mask in tested.values():
        values = loss[mask]
        mean = float(values.mean())
        se = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else 0.0
        p = float(stats.norm.sf(mean / se)) if se > 0 else (0.0 if mean > 0 else 1.0)
        scored.append((mean * mask.mean(), condition, mask, mean, se, p))
    scored.sort(key=lambda item: -item[0])
    findings = []
    for rank, (damage, condition, mask, mean, se, p) in enumerate(scored):
        what = "wrong" if spec.task is Task.classification else "worse"
        summary = (
            f"in {', '.join(f'{c}={v}' for c, v in _label(condition).items())} "
            f"({mask.sum()} human rows), the synthetic-trained model is {what} "
            f"{mean:+.3f} {'more often' if spec.task is Task.classification else '(relative)'}"
            f" than the human-trained one (95% interval {mean - 1.96 * se:+.3f} to "
            f"{mean + 1.96 * se:+.3f}; damage {damage:.4f})"
        )
        if rank < EXPLAINED_SLICES and p < 0.01 and mean > 0:
            summary += f"; there: {_explain(condition, test, train, inputs)}"
        findings.append(
            Finding(
                "utility",
                metric,
                tuple(condition),
                mean,
                summary,
                "oversample this slice in the generator and match its label relation",
                p,
                "utility.slice_drop",
                slice=_label(condition),
            )
        )
    return findings


def utility_findings(inputs: GapInputs) -> list[Finding]:
    """Overall train-on-synthetic, test-on-human gaps and slice gaps."""
    fitted = _fit_predict(inputs)
    if fitted is None:
        return []
    result, test, train = fitted
    return [*_overall(inputs, result), *_slices(inputs, result, test, train)]
