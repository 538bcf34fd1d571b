"""Distances between two distributions, from aligned counts or from bounded samples."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def shares(counts: np.ndarray) -> np.ndarray:
    """Counts as shares (all zeros stay zeros)."""
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    return counts / total if total > 0 else counts


def tv_distance(human: np.ndarray, synthetic: np.ndarray) -> float:
    """Total variation distance: half the L1 distance between the two share vectors."""
    return float(0.5 * np.abs(shares(human) - shares(synthetic)).sum())


def js_distance(human: np.ndarray, synthetic: np.ndarray) -> float:
    """Jensen-Shannon distance, base 2 (0 identical, 1 disjoint)."""
    p, q = shares(human), shares(synthetic)
    if p.sum() == 0 or q.sum() == 0:
        return math.nan
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float((a[mask] * np.log2(a[mask] / m[mask])).sum())

    return math.sqrt(max(0.0, 0.5 * kl(p) + 0.5 * kl(q)))


def psi(human: np.ndarray, synthetic: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index over aligned bins; empty bins floored at `floor` share."""
    p = np.maximum(shares(human), floor)
    q = np.maximum(shares(synthetic), floor)
    return float(((q - p) * np.log(q / p)).sum())


def boundary_adherence(inside: int, present: int, rows: int, human_has_missing: bool) -> float:
    """SDMetrics' BoundaryAdherence: share of synthetic values within the human [min, max].

    As in SDMetrics, missing synthetic values count as outside when the human column has no
    missing value, and are left out when it has some.
    """
    denominator = present if human_has_missing else rows
    return inside / denominator if denominator else math.nan


def entropy(counts: np.ndarray) -> float:
    """Shannon entropy in bits of a count vector."""
    p = shares(counts)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def wasserstein_iqr(human: np.ndarray, synthetic: np.ndarray) -> float:
    """Earth mover's distance between the samples, in units of the human interquartile range.

    Falls back to the human standard deviation, then to 1, when the IQR is zero.
    """
    human = human[~np.isnan(human)]
    synthetic = synthetic[~np.isnan(synthetic)]
    if human.size == 0 or synthetic.size == 0:
        return math.nan
    q1, q3 = np.quantile(human, [0.25, 0.75])
    scale = q3 - q1 or float(np.std(human)) or 1.0
    return float(stats.wasserstein_distance(human, synthetic) / scale)


def range_coverage(h_min: float, h_max: float, s_min: float, s_max: float) -> float:
    """Share of the human range [min, max] that the synthetic range covers (SDMetrics).

    NaN when the human range is a single value or either side has no values.
    """
    if h_max == h_min or any(math.isnan(v) for v in (h_min, h_max, s_min, s_max)):
        return math.nan
    covered = (min(s_max, h_max) - max(s_min, h_min)) / (h_max - h_min)
    return float(min(1.0, max(0.0, covered)))
