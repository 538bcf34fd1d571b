"""Detection: can a classifier tell synthetic rows from human ones (a classifier two-sample test)?

A HistGradientBoosting classifier (the spec's settings) is cross-validated on a balanced,
bounded sample of both sides. Its out-of-fold ROC AUC is the statistic (0.5: indistinguishable),
with a Hanley-McNeil interval and a one-sided Mann-Whitney test; SDMetrics' detection score is
`1 - (2 max(AUC, 0.5) - 1)`. Permutation importance on each fold's held-out rows says which
columns give synthetic data away: it is measured for the `models.importance_columns` columns that
tell the sides apart best on their own (all of them on narrow tables), `importance_repeats`
shuffles per fold. The human rows the classifier finds least synthetic-like show the regions the
generator misses.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from validation_loop.gaps.distances import tv_distance
from validation_loop.gaps.inputs import GapInputs
from validation_loop.gaps.modeling import (
    boosting,
    categorical_mask,
    features,
    head,
    preprocessor,
    strongest,
)
from validation_loop.gaps.profile import aligned_counts
from validation_loop.gaps.records import Finding
from validation_loop.gaps.task_metrics import roc_auc
from validation_loop.resources import fit_threads, limited_threads
from validation_loop.spec import Task

MIN_ROWS = 50
MISSED_SHARE = 0.05


def hanley_mcneil_se(auc: float, positives: int, negatives: int) -> float:
    """Standard error of an AUC (Hanley and McNeil, 1982)."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    ) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def _missed_region(
    human: pd.DataFrame, scores: np.ndarray, columns: list[str], numeric: list[str]
) -> str:
    """The conditions most over-represented among the human rows least like synthetic ones."""
    count = max(10, int(MISSED_SHARE * len(human)))
    missed = human.iloc[np.argsort(scores)[:count]]
    conditions = []
    for column in columns:
        if column in numeric:
            values = human[column].to_numpy(dtype=float)
            q1, median, q3 = (
                np.nanquantile(values, [0.25, 0.5, 0.75])
                if np.isfinite(values).any()
                else (0.0, 0.0, 0.0)
            )
            shift = (np.nanmedian(missed[column].to_numpy(dtype=float)) - median) / (
                (q3 - q1) or 1.0
            )
            if math.isfinite(shift) and abs(shift) >= 0.5:
                conditions.append(
                    (abs(shift), f"{column} {'high' if shift > 0 else 'low'} ({shift:+.1f} IQR)")
                )
            continue
        overall = human[column].astype("object").value_counts(normalize=True)
        inside = missed[column].astype("object").value_counts()
        for value, hits in inside.items():
            lift = (hits / len(missed)) / overall.get(value, np.nan)
            if hits >= 3 and lift >= 2:
                conditions.append((lift, f"{column}={value} ({lift:.1f}x)"))
    conditions.sort(reverse=True)
    return ", ".join(text for _, text in conditions[:3]) or "no single condition stands out"


def separation(data: pd.DataFrame, target: np.ndarray, numeric: list[str]) -> np.ndarray:
    """How well each column alone tells the sides apart, in [0, 1].

    Numeric: `|2 AUC - 1|` of the raw value (missing values ranked lowest); categorical: the
    total variation distance of the two sides' value shares (missing as its own value).
    """
    out = np.zeros(len(data.columns))
    synthetic = target == 1
    for index, column in enumerate(data.columns):
        if column in numeric:
            values = data[column].to_numpy(dtype=float)
            ranks = stats.rankdata(np.where(np.isnan(values), -np.inf, values))
            positives, negatives = synthetic.sum(), (~synthetic).sum()
            u = ranks[synthetic].sum() - positives * (positives + 1) / 2
            out[index] = abs(2 * u / (positives * negatives) - 1)
            continue
        values = data[column].astype("object").where(data[column].notna(), "(missing)")
        _, human, synth = aligned_counts(
            values[~synthetic].astype(str).value_counts().to_dict(),
            values[synthetic].astype(str).value_counts().to_dict(),
        )
        out[index] = tv_distance(human, synth)
    return out


def _column_importance(
    model: BaseEstimator,
    matrix: np.ndarray,
    target: np.ndarray,
    positions: np.ndarray,
    repeats: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """AUC lost when one encoded column (one original column each) is shuffled."""
    positive = target == 1
    base = roc_auc(model.predict_proba(matrix)[:, 1], positive)
    drops = np.zeros((len(positions), repeats))
    shuffled = matrix.copy()
    for index, position in enumerate(positions):
        for repeat in range(repeats):
            shuffled[:, position] = matrix[rng.permutation(len(matrix)), position]
            drops[index, repeat] = base - roc_auc(model.predict_proba(shuffled)[:, 1], positive)
        shuffled[:, position] = matrix[:, position]
    return drops


def detection_findings(inputs: GapInputs) -> list[Finding]:
    """Out-of-fold AUC, SDMetrics' detection score, per-column importance, missed regions."""
    spec, columns = inputs.spec, inputs.columns
    rows = min(spec.models.detection_rows, len(inputs.human_sample), len(inputs.synthetic_sample))
    if rows < MIN_ROWS:
        return []
    human = head(inputs.human_sample, rows)
    data = pd.concat(
        [
            features(human, columns, True),
            features(head(inputs.synthetic_sample, rows), columns, True),
        ],
        ignore_index=True,
    )
    target = np.r_[np.zeros(rows, dtype=int), np.ones(rows, dtype=int)]
    available = len(data.columns)
    alone = separation(data, target, columns.numeric)
    kept = strongest(alone, spec.models.max_columns)
    data, alone = data.iloc[:, kept], alone[kept]
    prepare = preprocessor(data, columns, native=True)
    matrix = prepare.fit_transform(data)  # unsupervised, so fitting on all rows is fair
    measured = strongest(alone, spec.models.importance_columns)
    encoded = [name.split("__", 1)[1] for name in prepare.get_feature_names_out()]
    positions = np.array([encoded.index(str(data.columns[i])) for i in measured], dtype=int)
    scores = np.empty(len(target))
    importance = []
    rng = np.random.default_rng(spec.seed)
    folds = StratifiedKFold(spec.models.folds, shuffle=True, random_state=spec.seed)
    detector = boosting(spec, Task.classification, categorical_mask(data, columns))
    threads = fit_threads(spec.resources.threads, len(target))
    with limited_threads(threads, openmp_only=True):
        for train, test in folds.split(matrix, target):
            model = clone(detector).fit(matrix[train], target[train])
            scores[test] = model.predict_proba(matrix[test])[:, 1]
            importance.append(
                _column_importance(
                    model,
                    matrix[test],
                    target[test],
                    positions,
                    spec.models.importance_repeats,
                    rng,
                )
            )
    auc = float(roc_auc_score(target, scores))
    se = hanley_mcneil_se(auc, rows, rows)
    p = float(
        stats.mannwhitneyu(scores[target == 1], scores[target == 0], alternative="greater").pvalue
    )
    drops = np.hstack(importance)  # measured columns x (folds * repeats)
    order = np.argsort(-drops.mean(axis=1))
    names = [str(data.columns[i]) for i in measured]
    telling = [f"{names[i]} ({drops[i].mean():+.3f})" for i in order[:3] if drops[i].mean() > 0]
    scope = (
        f" (importance measured for the {len(measured)} of {available} columns that differ "
        "most on their own)"
        if len(measured) < available
        else ""
    )
    seen = (
        f", on the {len(kept)} of {available} columns that differ most on their own"
        if len(kept) < available
        else ""
    )
    missed = _missed_region(human, scores[:rows], list(data.columns), columns.numeric)
    score = 1 - (2 * max(auc, 0.5) - 1)
    findings = [
        Finding(
            "detection",
            "detection_auc",
            tuple(data.columns),
            auc,
            f"a classifier tells synthetic from human rows with ROC AUC {auc:.3f} "
            f"(95% interval {auc - 1.96 * se:.3f}-{auc + 1.96 * se:.3f}, {rows} rows a side"
            f"{seen}); "
            f"columns that give synthetic away: {', '.join(telling) or 'none'}{scope}; human rows "
            f"least like synthetic ones: {missed}",
            "fix the columns that give synthetic data away and generate the missed region",
            p,
            "detection.auc",
        ),
        Finding(
            "detection",
            "detection_score",
            tuple(data.columns),
            score,
            f"SDMetrics-style detection score is {score:.3f} (1 = indistinguishable)",
        ),
    ]
    for index in order:
        values = drops[index]
        spread = values.std(ddof=1) if values.size > 1 else 0.0
        p_column = (
            float(stats.norm.sf(values.mean() / (spread / math.sqrt(values.size))))
            if spread > 0
            else (0.0 if values.mean() > 0 else 1.0)
        )
        findings.append(
            Finding(
                "detection",
                "detection_importance",
                (names[index],),
                float(values.mean()),
                f"shuffling '{names[index]}' lowers the detector's AUC by "
                f"{values.mean():.3f} on held-out rows",
                p_value=p_column,
            )
        )
    return findings
