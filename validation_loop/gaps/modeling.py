"""What the model checks share: feature frames, preprocessing, the task model from the spec.

The default models (gradient boosting) see numbers as they are (missing values stay missing, which
the trees split on) and categories as codes of their 20 most frequent values (rarer categories
share one code, unseen ones count as missing), split with the trees' own categorical support. A
model named in the spec sees numbers imputed with the median (plus missing flags) and the same
categories one-hot encoded, so any scikit-learn estimator works. Either way categories that
appear only on one side never crash a fit.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from validation_loop.errors import SpecError
from validation_loop.gaps.inputs import Columns
from validation_loop.spec import LoopSpec, Task

MAX_CATEGORIES = 20
ASSOCIATION_BINS = 10


def features(frame: pd.DataFrame, columns: Columns, include_label: bool) -> pd.DataFrame:
    """The compared columns (without the label unless asked) with plain numpy-friendly dtypes."""
    names = [c for c in columns.compared if include_label or c != columns.label]
    numeric = set(columns.numeric)
    return pd.DataFrame(
        {
            name: frame[name].to_numpy(dtype=float)
            if name in numeric
            else frame[name].astype("object").where(frame[name].notna(), None)
            for name in names
        },
        index=frame.index,
    )


def label_association(frame: pd.DataFrame, names: list[str], target: np.ndarray) -> np.ndarray:
    """Mutual information (nats) of each column with `target`, both cut into at most
    `ASSOCIATION_BINS` groups (numbers by deciles, categories by the most frequent values)."""
    target_codes = _codes(pd.Series(target))
    scores = np.zeros(len(names))
    for index, name in enumerate(names):
        codes = _codes(frame[name])
        joint = np.bincount(
            codes * (target_codes.max() + 1) + target_codes,
            minlength=(codes.max() + 1) * (target_codes.max() + 1),
        ).reshape(codes.max() + 1, -1) / len(codes)
        outer = joint.sum(axis=1, keepdims=True) @ joint.sum(axis=0, keepdims=True)
        inside = joint > 0
        scores[index] = float((joint[inside] * np.log(joint[inside] / outer[inside])).sum())
    return scores


def _codes(values: pd.Series) -> np.ndarray:
    """Small integer codes: deciles of numbers, the most frequent categories (missing: own)."""
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > ASSOCIATION_BINS:
        numbers = values.to_numpy(dtype=float)
        edges = np.unique(np.nanquantile(numbers, np.linspace(0.1, 0.9, 9)))
        return np.where(np.isnan(numbers), edges.size + 1, np.searchsorted(edges, numbers))
    codes, _ = pd.factorize(values.astype("object"), use_na_sentinel=True)
    codes = np.where(codes < 0, codes.max() + 1, codes)
    order = np.argsort(-np.bincount(codes), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return np.minimum(rank[codes], ASSOCIATION_BINS)


def strongest(scores: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the `limit` highest scores, in their original order."""
    return np.sort(np.argsort(-scores, kind="stable")[:limit])


def preprocessor(frame: pd.DataFrame, columns: Columns, native: bool = False) -> ColumnTransformer:
    """Numbers then categories. By default median imputation and capped one-hot encoding; with
    `native`, numbers unchanged and categories as capped ordinal codes (for `boosting`)."""
    numeric = [c for c in frame.columns if c in columns.numeric]
    categorical = [c for c in frame.columns if c not in columns.numeric]
    if native:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            max_categories=MAX_CATEGORIES,
        )
        return ColumnTransformer(
            [("numeric", "passthrough", numeric), ("categorical", encoder, categorical)]
        )
    return ColumnTransformer(
        [
            (
                "numeric",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                numeric,
            ),
            (
                "categorical",
                Pipeline(
                    [
                        ("fill", SimpleImputer(strategy="constant", fill_value="(missing)")),
                        (
                            "onehot",
                            OneHotEncoder(
                                handle_unknown="infrequent_if_exist",
                                max_categories=MAX_CATEGORIES,
                                sparse_output=False,
                            ),
                        ),
                    ]
                ),
                categorical,
            ),
        ]
    )


def categorical_mask(frame: pd.DataFrame, columns: Columns) -> list[bool]:
    """Which outputs of `preprocessor(frame, columns, native=True)` are category codes."""
    numeric = sum(c in columns.numeric for c in frame.columns)
    return [False] * numeric + [True] * (len(frame.columns) - numeric)


def load_estimator(path: str) -> BaseEstimator:
    """The estimator a spec names: `module:callable` or `module.Class`, called with no arguments."""
    module_name, _, attribute = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
        estimator = factory()
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        raise SpecError("loop.yaml", [f"field 'models.estimator': got {path!r}; {exc}"]) from None
    if not hasattr(estimator, "fit") or not hasattr(estimator, "predict"):
        raise SpecError(
            "loop.yaml",
            [
                f"field 'models.estimator': {path!r} built "
                f"{type(estimator).__name__}, which has no fit/predict"
            ],
        )
    return estimator


def boosting(
    spec: LoopSpec, task: Task, categorical: list[bool], classes: int = 2
) -> BaseEstimator:
    """The default model: HistGradientBoosting with the spec's settings, no early stopping.

    `categorical` marks the inputs that are category codes (see `categorical_mask`).
    Early stopping would hold out a stratified split, which fails on classes with one row; a
    fixed number of iterations also makes the cost predictable. With more than two `classes`
    each iteration grows one tree per class, so iterations are cut to keep `max_trees`.
    Regression uses the spec's loss (absolute error by default).
    """
    iterations = spec.models.max_iter
    if task is Task.classification and classes > 2:
        iterations = min(iterations, max(10, spec.models.max_trees // classes))
    settings = {
        "max_iter": iterations,
        "learning_rate": spec.models.learning_rate,
        "max_leaf_nodes": spec.models.max_leaf_nodes,
        "early_stopping": False,
        "random_state": spec.seed,
        "categorical_features": categorical if any(categorical) else None,
    }
    if task is Task.classification:
        return HistGradientBoostingClassifier(**settings)
    return HistGradientBoostingRegressor(loss=spec.models.regression_loss, **settings)


def task_model(spec: LoopSpec, frame: pd.DataFrame, columns: Columns, classes: int = 2) -> Pipeline:
    """A fresh, unfitted task model: preprocessing and the spec's (or the default) estimator."""
    if spec.models.estimator:
        estimator = clone(load_estimator(spec.models.estimator))
        return Pipeline([("prepare", preprocessor(frame, columns)), ("model", estimator)])
    estimator = boosting(spec, spec.task, categorical_mask(frame, columns), classes)
    return Pipeline([("prepare", preprocessor(frame, columns, native=True)), ("model", estimator)])


def labels(frame: pd.DataFrame, columns: Columns) -> np.ndarray:
    """The label column as a numpy array (strings for classes, floats for regression)."""
    values = frame[columns.label]
    if columns.task is Task.regression:
        return values.to_numpy(dtype=float)
    return values.astype("object").astype(str).to_numpy()


def head(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The first `rows` rows of a sample (samples are in seeded hash order, so this is random)."""
    return frame.iloc[:rows].reset_index(drop=True)


def describe_estimator(model: Any) -> str:
    """The estimator's class name, for messages."""
    return type(model.named_steps["model"]).__name__
