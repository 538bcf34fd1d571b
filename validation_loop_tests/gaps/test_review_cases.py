"""Cases a review found: edge values, small counts and selection effects must not raise gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from validation_loop.gaps.significance import chi_square_test, two_proportion_test
from validation_loop_tests.gaps.conftest import make_spec, run_gaps


def test_infinite_values_are_missing_not_a_crash() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=500), "y": rng.normal(size=500), "label": rng.choice(["a", "b"], 500)}
    )
    synthetic = frame.copy()
    synthetic.loc[3, "x"] = np.inf
    result = run_gaps(make_spec(frame, "label"), frame.iloc[:250], synthetic.iloc[:250])
    (missing,) = [
        r for r in result.records if r.metric == "missing_rate_gap" and r.columns == ["x"]
    ]
    assert missing.value == pytest.approx(1 / 250)


def test_small_counts_use_fishers_exact_test() -> None:
    assert two_proportion_test(1, 200, 0, 20_000) == pytest.approx(0.0099, abs=0.001)


def test_sparse_tables_of_one_distribution_are_not_different() -> None:
    rng = np.random.default_rng(1)
    weights = 1 / np.arange(1, 301)
    weights /= weights.sum()
    rejections = 0
    for _ in range(100):
        human = np.bincount(rng.choice(300, 200, p=weights), minlength=300)
        synthetic = np.bincount(rng.choice(300, 5000, p=weights), minlength=300)
        rejections += chi_square_test(human, synthetic)[1] <= 0.05
    assert rejections <= 10


@pytest.mark.parametrize("seed", range(5))
def test_unseen_categories_of_the_same_distribution_are_no_gap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, 301)
    weights /= weights.sum()

    def draw(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "c": [f"v{i}" for i in rng.choice(300, n, p=weights)],
                "label": rng.choice(["a", "b"], n),
            }
        )

    result = run_gaps(make_spec(draw(10), "label"), draw(200), draw(5000))
    assert [r for r in result.gaps if r.metric == "unseen_category_share"] == []


def test_one_synthetic_row_is_not_a_range_error() -> None:
    frame = pd.DataFrame({"x": np.arange(100.0), "label": ["a", "b"] * 50})
    result = run_gaps(make_spec(frame, "label"), frame, frame.iloc[[50]])
    (coverage,) = [r for r in result.records if r.metric == "range_coverage"]
    assert coverage.severity == "info" and coverage.p_value is None


def test_tiny_groups_are_not_compared() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "g": ["big"] * 400 + ["tiny"] * 4,
            "x": rng.normal(size=404),
            "label": rng.choice(["y", "n"], 404),
        }
    )
    spec = make_spec(frame, "label", sensitive=["g"])
    result = run_gaps(spec, frame, frame.sample(frac=1.0, random_state=4))
    outcome = [r for r in result.records if r.metric == "group_outcome_gap"]
    assert {r.slice["g"] for r in outcome} == {"big"}
