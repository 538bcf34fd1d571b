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
from validation_loop.gaps.significance import correlation_tau2, ks_statistic, standardise


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
