"""Significance tests behind gap severities, and the false discovery rate across a report.

Every test here takes counts or bounded samples (never a whole synthetic table) and returns a
p-value; `benjamini_hochberg` turns the p-values of one report into q-values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return []
    order = np.argsort(p)
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty_like(adjusted)
    q[order] = np.minimum(adjusted, 1.0)
    return q.tolist()


def two_level_fdr(p_values: Sequence[float], families: Sequence[str]) -> list[float]:
    """q-values of tests grouped in families (Benjamini and Bogomolov, 2014), in input order.

    Families are screened first: each family's Simes p-value, Benjamini-Hochberg adjusted over
    the families. Inside a family, tests get Benjamini-Hochberg q-values of their own, and a test
    is significant at level alpha when its family is and its within-family q-value is at most
    alpha * R / M (R families selected at alpha out of M). The q-value returned is the smallest
    such alpha. One family gives plain Benjamini-Hochberg.
    """
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return []
    groups: dict[str, list[int]] = {}
    for index, family in enumerate(families):
        groups.setdefault(family, []).append(index)
    within = np.empty(p.size)
    simes = []
    for members in groups.values():
        ranked = np.sort(p[members])
        simes.append(float((ranked * ranked.size / np.arange(1, ranked.size + 1)).min()))
        within[members] = benjamini_hochberg(p[members])
    family_q = benjamini_hochberg(simes)
    levels = np.unique(family_q)
    selected = np.searchsorted(np.sort(family_q), levels, side="right")  # R at each level
    out = np.empty(p.size)
    for members, q in zip(groups.values(), family_q, strict=True):
        usable = levels >= q
        scale = len(groups) / selected[usable]
        out[members] = np.min(
            np.maximum(levels[usable][None, :], within[members][:, None] * scale[None, :]), axis=1
        )
    return np.minimum(out, 1.0).tolist()


def ks_statistic(human: np.ndarray, synthetic: np.ndarray) -> float:
    """The two-sample KS statistic alone (as `ks_test` gives it), without the costly p-value."""
    human, synthetic = _present_sorted(human), _present_sorted(synthetic)
    if human.size == 0 or synthetic.size == 0:
        return math.nan
    return _ks_distance(human, synthetic)


def _present_sorted(values: np.ndarray) -> np.ndarray:
    """The values without NaN, sorted."""
    return np.sort(values[~np.isnan(values)])


def _ks_distance(human: np.ndarray, synthetic: np.ndarray) -> float:
    """The largest gap between two sorted samples' empirical CDFs."""
    values = np.concatenate([human, synthetic])
    below_h = np.searchsorted(human, values, side="right") / human.size
    below_s = np.searchsorted(synthetic, values, side="right") / synthetic.size
    return float(np.max(np.abs(below_h - below_s)))


def ks_test(human: np.ndarray, synthetic: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value (NaN dropped; nan if a side is empty).

    SciPy's exact `ks_2samp` while the two sizes multiply to at most 10,000; beyond, the
    asymptotic (Kolmogorov) distribution at the effective size `n_h n_s / (n_h + n_s)`, as R's
    `ks.test` uses for large samples (SciPy's own asymptotic method evaluates the exact
    one-sample distribution instead, which costs milliseconds per call; a comparison tests
    thousands of columns and label values).
    """
    human, synthetic = _present_sorted(human), _present_sorted(synthetic)
    if human.size == 0 or synthetic.size == 0:
        return math.nan, math.nan
    if human.size * synthetic.size <= 10_000:
        result = stats.ks_2samp(human, synthetic, method="exact")
        return float(result.statistic), float(result.pvalue)
    statistic = _ks_distance(human, synthetic)
    effective = human.size * synthetic.size / (human.size + synthetic.size)
    return statistic, float(stats.kstwobign.sf(math.sqrt(effective) * statistic))


def two_proportion_test(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    """Two-sided p-value that two proportions differ (pooled z-test; Fisher for small counts)."""
    if n_a == 0 or n_b == 0:
        return math.nan
    if min(hits_a, n_a - hits_a, hits_b, n_b - hits_b) < 5:
        table = [[hits_a, n_a - hits_a], [hits_b, n_b - hits_b]]
        return float(stats.fisher_exact(table).pvalue)
    pooled = (hits_a + hits_b) / (n_a + n_b)
    if pooled in (0.0, 1.0):
        return 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (hits_a / n_a - hits_b / n_b) / se
    return float(2 * stats.norm.sf(abs(z)))


def _expected(table: np.ndarray) -> np.ndarray:
    """A two-way table's expected counts under independence of its rows and columns."""
    return np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()


def chi_square_test(human_counts: np.ndarray, synthetic_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity on two count vectors over the same cells.

    Cells empty on both sides are dropped, and cells whose smaller expected count is below 5 are
    pooled into one (the chi-square approximation fails on sparse cells, and a sparse table of
    the same distribution would otherwise look different). Returns (statistic, p-value), nan
    with fewer than two cells.
    """
    table = np.vstack([human_counts, synthetic_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return math.nan, math.nan
    sparse = _expected(table).min(axis=0) < 5
    if sparse.any():
        table = np.hstack([table[:, ~sparse], table[:, sparse].sum(axis=1, keepdims=True)])
    if table.shape[1] < 2:
        return math.nan, math.nan
    # Pearson's statistic as `scipy.stats.chi2_contingency(table, correction=False)` has it,
    # without its per-call overhead (thousands of pairs and categories are tested).
    expected = _expected(table)
    statistic = float(((table - expected) ** 2 / expected).sum())
    return statistic, float(stats.chi2.sf(statistic, table.shape[1] - 1))


def standardise(values: np.ndarray) -> np.ndarray | None:
    """Values centred and scaled to unit (population) variance; None if constant or too few."""
    if values.size < 4:
        return None
    spread = values.std()
    return None if spread == 0 else (values - values.mean()) / spread


def correlation_tau2(x: np.ndarray, y: np.ndarray) -> float:
    """n * Var(r) of a Pearson correlation, without assuming normality (fourth moments).

    `x` and `y` are standardised over the same rows (`standardise`). The value is
    (1 + r^2/2) m22 - r (m31 + m13) + r^2/4 (m40 + m04); under bivariate normality it is
    (1 - r^2)^2. Heavy tails make it larger, which is why a normal-theory test would flag
    differences that are only noise.
    """
    r = float(np.dot(x, y)) / x.size
    x2, y2 = x * x, y * y
    m22 = float(np.dot(x2, y2)) / x.size
    m31 = float(np.dot(x2 * x, y)) / x.size
    m13 = float(np.dot(x, y2 * y)) / x.size
    m40 = float(np.dot(x2, x2)) / x.size
    m04 = float(np.dot(y2, y2)) / x.size
    return (1 + r**2 / 2) * m22 - r * (m31 + m13) + r**2 / 4 * (m40 + m04)


def correlation_difference_test(
    r_a: float, tau2_a: float, n_a: int, r_b: float, tau2_b: float, n_b: int
) -> float:
    """Two-sided p-value that two independent correlations differ, from their `tau2`s.

    The larger `tau2` stands for both sides: under the null they estimate the same value, and
    the side holding a heavy tail's extreme rows is the one whose estimate has seen them.
    """
    if min(n_a, n_b) <= 3 or any(math.isnan(v) for v in (r_a, r_b, tau2_a, tau2_b)):
        return math.nan
    variance = max(tau2_a, tau2_b) * (1 / n_a + 1 / n_b)
    if variance <= 0:
        return 1.0 if r_a == r_b else 0.0
    return float(2 * stats.norm.sf(abs(r_a - r_b) / math.sqrt(variance)))


def binomial_excess_test(hits: int, n: int, expected_rate: float) -> float:
    """One-sided p-value of at least `hits` successes in `n` trials at `expected_rate`."""
    if n == 0:
        return math.nan
    return float(stats.binom.sf(hits - 1, n, min(max(expected_rate, 0.0), 1.0)))
