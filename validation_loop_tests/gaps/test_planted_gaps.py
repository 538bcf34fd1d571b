"""Planted gaps are found, by kind and column, and clean comparisons raise no alarm.

Human data: half of the shipped Adult census sample (3,000 rows); synthetic: the other half,
with one flaw planted per test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from validation_loop.demo import demo_frame
from validation_loop_tests.gaps.conftest import make_spec, run_gaps


@pytest.fixture(scope="module")
def halves() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = demo_frame().drop(columns=["person_id"]).sample(frac=1.0, random_state=3)
    return frame.iloc[:3000].reset_index(drop=True), frame.iloc[3000:].reset_index(drop=True)


@pytest.fixture(scope="module")
def spec(halves):
    return make_spec(
        halves[0], "income", slices=["workclass", "education"], sensitive=["sex", "race"]
    )


def _errors(result):
    return [
        (r.kind, r.metric, tuple(r.columns), r.slice) for r in result.gaps if r.severity == "error"
    ]


def test_identical_data_gives_no_gaps_but_privacy(halves, spec) -> None:
    """Identical data matches on every quality metric; every row is a copy, so privacy says so."""
    result = run_gaps(spec, halves[0], halves[0])
    assert {(r.kind, r.metric) for r in result.gaps} == {
        ("privacy", "exact_copy_rate_excess"),
        ("privacy", "dcr_ratio"),
    }
    scores = [r for r in result.records if r.metric.endswith(("_complement", "_similarity"))]
    assert len(scores) > 50 and all(r.value == pytest.approx(1.0) for r in scores)


def test_random_halves_give_no_error(halves, spec) -> None:
    result = run_gaps(spec, *halves)
    assert _errors(result) == []


def test_shifted_column_is_a_marginal_gap(halves, spec) -> None:
    synthetic = halves[1].assign(age=halves[1]["age"] + 8)
    result = run_gaps(spec, halves[0], synthetic)
    errors = _errors(result)
    assert ("marginal", "ks", ("age",), None) in errors
    assert ("marginal", "wasserstein_iqr", ("age",), None) in errors
    assert {c for kind, _, cols, _ in errors if kind == "marginal" for c in cols} == {"age"}


def test_missing_category_is_a_coverage_gap(halves, spec) -> None:
    synthetic = halves[1][halves[1]["education"] != "Bachelors"]
    result = run_gaps(spec, halves[0], synthetic)
    (gap,) = [
        r
        for r in result.gaps
        if r.slice == {"education": "Bachelors"} and r.metric == "slice_share_ratio"
    ]
    assert gap.severity == "error" and gap.value == 0
    assert "add education=Bachelors to the generator" in gap.message


def test_broken_dependency_is_a_pairwise_gap(halves, spec) -> None:
    rng = np.random.default_rng(0)
    synthetic = halves[1].assign(education_num=rng.permutation(halves[1]["education_num"]))
    errors = _errors(run_gaps(spec, halves[0], synthetic))
    assert ("pairwise", "contingency_difference", ("education_num", "education"), None) in errors
    assert not any(kind == "marginal" for kind, *_ in errors)


def test_broken_correlation_is_a_pairwise_gap() -> None:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 2, 3, 30]]
    frame.columns = ["radius", "perimeter", "area", "target"]
    human, synthetic = frame.iloc[::2].reset_index(drop=True), frame.iloc[1::2].copy()
    synthetic["radius"] = np.random.default_rng(1).permutation(synthetic["radius"])
    errors = _errors(run_gaps(make_spec(frame, "target"), human, synthetic))
    assert ("pairwise", "pearson_difference", ("radius", "perimeter"), None) in errors
    assert ("pairwise", "spearman_difference", ("radius", "area"), None) in errors
    assert not any(kind == "marginal" for kind, *_ in errors)


def test_duplicated_rows_are_a_diversity_gap(halves, spec) -> None:
    synthetic = pd.concat([halves[1].iloc[:1500]] * 2, ignore_index=True)
    (gap,) = [
        r for r in run_gaps(spec, halves[0], synthetic).gaps if r.metric == "duplicate_rate_excess"
    ]
    assert gap.kind == "diversity" and gap.severity == "error"
    assert gap.value == pytest.approx(1500 / 3000 - 0, abs=0.02)


def test_copied_human_rows_are_a_privacy_gap(halves, spec) -> None:
    synthetic = pd.concat([halves[0].iloc[:1800], halves[1].iloc[:1200]], ignore_index=True)
    result = run_gaps(spec, halves[0], synthetic)
    found = {r.metric: r for r in result.gaps if r.kind == "privacy"}
    assert found["exact_copy_rate_excess"].severity == "error"
    assert found["dcr_ratio"].severity == "error"


def test_group_biased_labels_are_a_bias_gap(halves, spec) -> None:
    synthetic = halves[1].copy()
    synthetic.loc[synthetic["sex"] == "Female", "income"] = "<=50K"
    result = run_gaps(spec, halves[0], synthetic)
    gaps = [r for r in result.gaps if r.kind == "bias" and r.columns[0] == "sex"]
    assert any(
        r.metric == "group_outcome_gap" and r.slice == {"sex": "Female"} and r.severity == "error"
        for r in gaps
    )
    (change,) = [r for r in gaps if r.metric == "disparity_change"]
    assert "amplifies the human disparity" in change.message


def test_small_batches_cannot_prove_small_gaps(halves, spec) -> None:
    """A 1% shift in 500 rows is not a gap; the same shift is not one in 100k rows either."""
    human = halves[0].iloc[:500]
    synthetic = halves[1].iloc[:500].assign(age=halves[1]["age"].iloc[:500] * 1.01)
    assert [r for r in run_gaps(spec, human, synthetic).gaps if "age" in r.columns] == []


def test_large_batches_do_not_flag_trivial_gaps(halves, spec) -> None:
    rng = np.random.default_rng(5)
    big = halves[1].sample(100_000, replace=True, random_state=5).reset_index(drop=True)
    big["age"] = big["age"] * 1.01 + rng.normal(0, 0.5, len(big))
    result = run_gaps(spec, halves[0], big)
    assert [r for r in result.gaps if r.kind == "marginal"] == []
