"""The sample checks beside the statistical checks: the same records on any budget, errors kept."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier

from validation_loop_tests.gaps.conftest import make_spec, run_gaps

MODELS = {"detection_rows": 2000, "utility_rows": 3000, "bootstrap": 50}


class FailingFit(HistGradientBoostingClassifier):
    """A user's estimator whose fit fails."""

    def fit(self, X, y, sample_weight=None):
        raise RuntimeError("this estimator cannot fit")


def _cancer() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 4, 6, 7, 20, 21, 27, 30]]
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame["target"] = frame["target"].map({0: "malignant", 1: "benign"})
    return frame


def test_one_thread_and_two_give_the_same_records() -> None:
    frame = _cancer()
    results = [
        run_gaps(
            make_spec(frame, "target", models=MODELS, resources={"threads": threads}),
            frame.iloc[::2],
            frame.iloc[1::2],
        )
        for threads in (1, 2)
    ]
    one, two = ([(r.kind, r.metric, r.columns, r.value) for r in res.records] for res in results)
    assert {r[0] for r in one} >= {"utility", "detection", "privacy", "marginal"}
    assert one == two
    # with two threads the sample checks ran in their own thread and were timed there
    assert {"utility", "detection", "dcr"} <= set(results[1].seconds)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_failing_sample_check_fails_the_comparison(threads: int) -> None:
    frame = _cancer()
    spec = make_spec(
        frame,
        "target",
        models={**MODELS, "estimator": f"{__name__}:FailingFit"},
        resources={"threads": threads},
    )
    with pytest.raises(RuntimeError, match="this estimator cannot fit"):
        run_gaps(spec, frame.iloc[::2], frame.iloc[1::2])
