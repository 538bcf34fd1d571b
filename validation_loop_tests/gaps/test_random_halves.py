"""Two random halves of the same real data (scikit-learn's bundled sets) raise no error."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

from validation_loop_tests.gaps.conftest import make_spec, run_gaps


def _iris() -> tuple[pd.DataFrame, dict]:
    frame = load_iris(as_frame=True).frame
    return frame, {"label": "target"}


def _wine() -> tuple[pd.DataFrame, dict]:
    frame = load_wine(as_frame=True).frame
    return frame, {"label": "target"}


def _breast_cancer() -> tuple[pd.DataFrame, dict]:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [*range(10), 30]]
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    return frame, {"label": "target"}


def _diabetes() -> tuple[pd.DataFrame, dict]:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["sex"] = frame["sex"].map({1.0: "f", 2.0: "m"})
    return frame, {"label": "target", "task": "regression", "sensitive": ["sex"], "slices": ["sex"]}


@pytest.mark.parametrize(
    "load",
    [_iris, _wine, _breast_cancer, _diabetes],
    ids=["iris", "wine", "breast_cancer", "diabetes"],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_halves_raise_no_error(load, seed: int) -> None:
    frame, fields = load()
    label = fields.pop("label")
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    half = len(shuffled) // 2
    result = run_gaps(make_spec(frame, label, **fields), shuffled.iloc[:half], shuffled.iloc[half:])
    errors = [r.message for r in result.gaps if r.severity == "error"]
    assert errors == []
    assert len(result.records) > 20
