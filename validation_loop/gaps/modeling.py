"""What the model checks share: feature frames, preprocessing, the task model from the spec.

Every model sees the same preprocessing: numeric columns imputed with the median (plus missing
flags), categorical columns one-hot encoded over their 20 most frequent values (rarer and unseen
categories share one slot), so any scikit-learn estimator works and categories that appear only
on one side never crash a fit.
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
from sklearn.preprocessing import OneHotEncoder

from validation_loop.errors import SpecError
from validation_loop.gaps.inputs import Columns
from validation_loop.spec import LoopSpec, Task

MAX_CATEGORIES = 20


def features(frame: pd.DataFrame, columns: Columns, include_label: bool) -> pd.DataFrame:
    """The compared columns (without the label unless asked) with plain numpy-friendly dtypes."""
    names = [c for c in columns.compared if include_label or c != columns.label]
    out = pd.DataFrame(index=frame.index)
    for name in names:
        if name in columns.numeric:
            out[name] = frame[name].to_numpy(dtype=float)
        else:
            out[name] = frame[name].astype("object").where(frame[name].notna(), None)
    return out


def preprocessor(frame: pd.DataFrame, columns: Columns) -> ColumnTransformer:
    """Median imputation for numbers, capped one-hot encoding for categories."""
    numeric = [c for c in frame.columns if c in columns.numeric]
    categorical = [c for c in frame.columns if c not in columns.numeric]
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


def task_model(spec: LoopSpec, frame: pd.DataFrame, columns: Columns) -> Pipeline:
    """A fresh, unfitted task model: preprocessing and the spec's (or the default) estimator."""
    if spec.models.estimator:
        estimator = clone(load_estimator(spec.models.estimator))
    elif spec.task is Task.classification:
        estimator = HistGradientBoostingClassifier(random_state=spec.seed)
    else:
        estimator = HistGradientBoostingRegressor(random_state=spec.seed)
    return Pipeline([("prepare", preprocessor(frame, columns)), ("model", estimator)])


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
