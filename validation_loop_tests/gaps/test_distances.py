"""Distances on hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from validation_loop.gaps.distances import (
    boundary_adherence,
    entropy,
    js_distance,
    psi,
    range_coverage,
    tv_distance,
    wasserstein_iqr,
)
from validation_loop.gaps.significance import (
    chi_square_test,
    correlation_tau2,
    ks_statistic,
    ks_test,
    standardise,
)


def test_tv_distance_by_hand() -> None:
    # shares (0.5, 0.5, 0) against (0.25, 0.25, 0.5): half of 0.25 + 0.25 + 0.5
    assert tv_distance(np.array([2, 2, 0]), np.array([1, 1, 2])) == pytest.approx(0.5)
    assert tv_distance(np.array([3, 1]), np.array([30, 10])) == 0


def test_js_distance_by_hand() -> None:
    assert js_distance(np.array([1, 0]), np.array([0, 1])) == pytest.approx(1.0)
    assert js_distance(np.array([5, 5]), np.array([1, 1])) == pytest.approx(0.0)
    # p = (1/2, 1/2), q = (1, 0): m = (3/4, 1/4)
    kl_p = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    kl_q = math.log2(1 / 0.75)
    assert js_distance(np.array([1, 1]), np.array([1, 0])) == pytest.approx(
        math.sqrt(0.5 * kl_p + 0.5 * kl_q)
    )


def test_psi_by_hand_and_floor() -> None:
    expected = (0.6 - 0.5) * math.log(0.6 / 0.5) + (0.4 - 0.5) * math.log(0.4 / 0.5)
    assert psi(np.array([50, 50]), np.array([60, 40])) == pytest.approx(expected)
    assert math.isfinite(psi(np.array([50, 50]), np.array([100, 0])))


def test_entropy_in_bits() -> None:
    assert entropy(np.array([1, 1, 1, 1])) == pytest.approx(2.0)
    assert entropy(np.array([7, 0])) == 0


def test_wasserstein_in_human_iqrs() -> None:
    human = np.arange(101, dtype=float)  # IQR 50
    assert wasserstein_iqr(human, human + 10) == pytest.approx(10 / 50)
    assert math.isnan(wasserstein_iqr(human, np.array([np.nan])))


def test_range_coverage_and_boundary_adherence() -> None:
    assert range_coverage(0, 10, 2, 20) == pytest.approx(0.8)
    assert range_coverage(0, 10, 11, 20) == 0
    assert math.isnan(range_coverage(5, 5, 0, 10))
    assert boundary_adherence(37, 38, 50, human_has_missing=False) == pytest.approx(0.74)
    assert boundary_adherence(37, 38, 50, human_has_missing=True) == pytest.approx(37 / 38)


def test_correlation_tau2_is_normal_theory_for_normal_data() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=200_000)
    y = 0.6 * x + 0.8 * rng.normal(size=x.size)
    tau2 = correlation_tau2(standardise(x), standardise(y))
    assert tau2 == pytest.approx((1 - 0.6**2) ** 2, rel=0.03)
    heavy = rng.standard_t(3, size=(2, 200_000))
    assert correlation_tau2(standardise(heavy[0]), standardise(heavy[0] + heavy[1])) > (
        (1 - 0.5) ** 2 * 1.5
    )


def test_ks_statistic_alone_equals_scipy_two_sided_statistic() -> None:
    rng = np.random.default_rng(5)
    for size in (3, 50, 400):
        human = np.round(rng.normal(size=size), 1)  # ties across and within the sides
        synthetic = np.r_[np.round(rng.normal(0.3, 1.2, size=size + 7), 1), np.nan]
        expected = stats.ks_2samp(human, synthetic[:-1]).statistic
        assert ks_statistic(human, synthetic) == pytest.approx(expected, abs=1e-15)
    assert math.isnan(ks_statistic(np.array([np.nan]), np.array([1.0])))


def test_ks_test_is_scipy_exact_when_small_and_kolmogorov_asymptotic_when_large() -> None:
    """Small samples: SciPy's exact test. Large: the statistic as SciPy has it, the p-value from
    the Kolmogorov distribution at the effective size (R's large-sample rule), close to SciPy's
    own asymptotic p-value."""
    rng = np.random.default_rng(6)
    for size in (30, 96, 98, 5_000):
        human = np.round(rng.normal(size=size), 1)
        synthetic = np.r_[np.round(rng.normal(0.05, 1.1, size=size + 3), 1), np.nan]
        statistic, p_value = ks_test(human, synthetic)
        small = size * (size + 3) <= 10_000
        expected = stats.ks_2samp(human, synthetic[:-1], method="exact" if small else "asymp")
        assert statistic == pytest.approx(expected.statistic, abs=1e-15)
        if small:
            assert p_value == pytest.approx(expected.pvalue, rel=1e-12)
        else:
            effective = size * (size + 3) / (2 * size + 3)
            limit = stats.kstwobign.sf(math.sqrt(effective) * expected.statistic)
            assert p_value == pytest.approx(limit, rel=1e-12)
            assert p_value == pytest.approx(expected.pvalue, rel=0.05)
    assert all(math.isnan(v) for v in ks_test(np.array([]), np.array([1.0])))


def test_chi_square_test_equals_scipy_on_the_pooled_table() -> None:
    """SciPy's chi2_contingency (no continuity correction) on the table with sparse cells
    pooled into one: the same statistic and p-value."""
    rng = np.random.default_rng(7)
    for cells in (2, 3, 12, 40):
        human = rng.poisson(rng.uniform(0, 60, cells)).astype(float)
        synthetic = rng.poisson(rng.uniform(0, 60, cells)).astype(float)
        statistic, p_value = chi_square_test(human, synthetic)
        table = np.vstack([human, synthetic])
        table = table[:, table.sum(axis=0) > 0]
        expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
        sparse = expected.min(axis=0) < 5
        if sparse.any():
            table = np.hstack([table[:, ~sparse], table[:, sparse].sum(axis=1, keepdims=True)])
        if table.shape[1] < 2:
            assert math.isnan(statistic) and math.isnan(p_value)
            continue
        reference = stats.chi2_contingency(table, correction=False)
        assert statistic == pytest.approx(reference.statistic, rel=1e-12)
        assert p_value == pytest.approx(reference.pvalue, rel=1e-9)
