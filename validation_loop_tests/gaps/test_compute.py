"""The sample checks beside the statistical checks: the same records on any budget, errors kept."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier

from validation_loop.gaps.compute import _SampleChecks
from validation_loop.gaps.inputs import prepare
from validation_loop_tests.gaps.conftest import load, make_spec, run_gaps

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


def test_the_sample_check_worker_gives_its_thread_back_to_duckdb() -> None:
    """With a budget of two, DuckDB scans on one thread while the worker runs the sample
    checks, and on both once the worker has none left."""
    frame = _cancer()
    spec = make_spec(frame, "target", models=MODELS, resources={"threads": 2})
    con = duckdb.connect()
    inputs = prepare(
        con, spec, load(con, "human", frame.iloc[::2]), load(con, "synthetic", frame.iloc[1::2])
    )
    setting = "SELECT current_setting('threads')"
    with _SampleChecks(inputs, con, 2) as samples:
        assert con.execute(setting).fetchone() == (1,)
        assert samples._worker is not None
        samples._worker.result()  # every check taken and done
        assert con.execute(setting).fetchone() == (2,)
        samples.disconnect()
        assert {"utility", "detection", "dcr"} == set(samples.seconds)
