"""The two-level FDR against the procedure run step by step with statsmodels' BH."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from validation_loop.gaps.significance import two_level_fdr


def _rejected(p: np.ndarray, families: np.ndarray, alpha: float) -> np.ndarray:
    """Benjamini-Bogomolov at level alpha: Simes per family, BH over families, BH inside."""
    names = sorted(set(families))
    simes = []
    for name in names:
        ranked = np.sort(p[families == name])
        simes.append((ranked * ranked.size / np.arange(1, ranked.size + 1)).min())
    selected = multipletests(simes, alpha=alpha, method="fdr_bh")[0]
    out = np.zeros(p.size, dtype=bool)
    for name, chosen in zip(names, selected, strict=True):
        if chosen:
            inside = np.flatnonzero(families == name)
            level = alpha * selected.sum() / len(names)
            out[inside] = multipletests(p[inside], alpha=level, method="fdr_bh")[0]
    return out


@pytest.mark.parametrize("seed", range(5))
def test_q_values_reject_exactly_what_the_procedure_rejects(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.r_[rng.uniform(size=200), rng.uniform(size=12) ** 6]  # nulls and a few signals
    families = rng.choice(["marginal", "pairwise", "utility", "detection"], size=p.size)
    families[-12:] = "utility"
    q = np.asarray(two_level_fdr(p, families))
    for alpha in (0.001, 0.01, 0.05, 0.1, 0.25):
        np.testing.assert_array_equal(q <= alpha, _rejected(p, families, alpha))


def test_one_family_is_plain_benjamini_hochberg() -> None:
    p = np.random.default_rng(0).uniform(size=50) ** 2
    expected = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(two_level_fdr(p, ["pairwise"] * p.size), expected)


def test_a_small_family_keeps_its_power_beside_many_null_tests() -> None:
    rng = np.random.default_rng(3)
    nulls = rng.uniform(size=400)
    p = np.r_[nulls, [2e-4, 0.3]]
    families = ["pairwise"] * nulls.size + ["utility", "utility"]
    flat = multipletests(p, method="fdr_bh")[1]
    grouped = two_level_fdr(p, families)
    assert flat[-2] > 0.05  # drowned among 400 pair tests when pooled
    assert grouped[-2] <= 0.01  # found when the model tests form their own family
