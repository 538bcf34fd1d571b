"""Marginal gaps: each column's distribution, human against synthetic."""

from __future__ import annotations

import math

import numpy as np

from validation_loop.gaps.distances import js_distance, psi, tv_distance, wasserstein_iqr
from validation_loop.gaps.inputs import GapInputs
from validation_loop.gaps.profile import SideProfile, aligned_counts
from validation_loop.gaps.records import Finding
from validation_loop.gaps.significance import chi_square_test, two_proportion_test


def ks_key(column: str) -> str:
    """Test key of a numeric column's KS test (shared by its effect sizes)."""
    return f"marginal:ks:{column}"


def chi2_key(column: str) -> str:
    """Test key of a column's chi-square test on its categories or bins."""
    return f"marginal:chi2:{column}"


def decile_counts(bins: np.ndarray) -> np.ndarray:
    """Merge the 20 ventile bins of a profile into 10 decile bins for PSI."""
    if bins.size == 20:
        return bins.reshape(10, 2).sum(axis=1)
    return bins


def _missing(column: str, human: SideProfile, synthetic: SideProfile) -> list[Finding]:
    """Missing-value rate gap and SDMetrics' MissingValueSimilarity for one column."""
    h_missing = human.rows - human.non_null[column]
    s_missing = synthetic.rows - synthetic.non_null[column]
    h_rate = h_missing / human.rows if human.rows else np.nan
    s_rate = s_missing / synthetic.rows if synthetic.rows else np.nan
    gap = abs(s_rate - h_rate)
    p = two_proportion_test(h_missing, human.rows, s_missing, synthetic.rows)
    return [
        Finding(
            "marginal",
            "missing_rate_gap",
            (column,),
            gap,
            f"'{column}' is missing in {s_rate:.1%} of synthetic rows and {h_rate:.1%} of "
            "human rows",
            f"make the generator leave '{column}' empty at the human rate",
            p_value=p,
            rule="marginal.missing_rate_gap",
        ),
        Finding(
            "marginal",
            "missing_value_similarity",
            (column,),
            1 - gap,
            f"MissingValueSimilarity of '{column}' is {1 - gap:.3g}",
        ),
    ]


def _numeric(
    column: str, inputs: GapInputs, human: SideProfile, synthetic: SideProfile
) -> list[Finding]:
    """KS, Wasserstein, PSI and JS distance of one numeric column."""
    statistic, p_ks = inputs.column_ks(column)
    wasserstein = wasserstein_iqr(
        inputs.sorted_values("human", column), inputs.sorted_values("synthetic", column)
    )
    _, p_bins = chi_square_test(human.bins[column], synthetic.bins[column])
    stability = psi(decile_counts(human.bins[column]), decile_counts(synthetic.bins[column]))
    js = js_distance(human.bins[column], synthetic.bins[column])
    action = f"adjust the generator's distribution of '{column}' (location, scale, tails)"
    return [
        Finding(
            "marginal",
            "ks",
            (column,),
            statistic,
            f"KS statistic between human and synthetic '{column}' is {statistic:.3g}",
            action,
            p_ks,
            "marginal.ks",
            test_key=ks_key(column),
        ),
        Finding(
            "marginal",
            "ks_complement",
            (column,),
            1 - statistic,
            f"KSComplement of '{column}' is {1 - statistic:.3g}",
        ),
        Finding(
            "marginal",
            "wasserstein_iqr",
            (column,),
            wasserstein,
            f"synthetic '{column}' is {wasserstein:.3g} human IQRs away from human "
            "(Wasserstein distance)",
            action,
            p_ks,
            "marginal.wasserstein_iqr",
            test_key=ks_key(column),
        ),
        Finding(
            "marginal",
            "psi",
            (column,),
            stability,
            f"PSI of '{column}' over human deciles is {stability:.3g}",
            action,
            p_bins,
            "marginal.psi",
            test_key=chi2_key(column),
        ),
        Finding(
            "marginal",
            "js_distance",
            (column,),
            js,
            f"Jensen-Shannon distance of '{column}' over human ventiles is {js:.3g}",
            action,
            p_bins,
            "marginal.js_distance",
            test_key=chi2_key(column),
        ),
    ]


def _categorical(column: str, human: SideProfile, synthetic: SideProfile) -> list[Finding]:
    """TV and JS distance and the chi-square test of one categorical column."""
    _, h, s = aligned_counts(human.categories[column], synthetic.categories[column])
    empty = h.sum() == 0 or s.sum() == 0
    tv = math.nan if empty else tv_distance(h, s)
    js = math.nan if empty else js_distance(h, s)
    statistic, p = chi_square_test(h, s)
    action = f"reweight the categories of '{column}' toward the human shares"
    key = chi2_key(column)
    return [
        Finding(
            "marginal",
            "tv_distance",
            (column,),
            tv,
            f"total variation distance between human and synthetic '{column}' is {tv:.3g}",
            action,
            p,
            "marginal.tv_distance",
            test_key=key,
        ),
        Finding(
            "marginal",
            "tv_complement",
            (column,),
            1 - tv,
            f"TVComplement of '{column}' is {1 - tv:.3g}",
        ),
        Finding(
            "marginal",
            "js_distance",
            (column,),
            js,
            f"Jensen-Shannon distance of '{column}' is {js:.3g}",
            action,
            p,
            "marginal.js_distance",
            test_key=key,
        ),
        Finding(
            "marginal",
            "chi_square",
            (column,),
            statistic,
            f"chi-square statistic of '{column}' categories is {statistic:.4g}",
            p_value=p,
            test_key=key,
        ),
    ]


def marginal_findings(
    inputs: GapInputs, human: SideProfile, synthetic: SideProfile
) -> list[Finding]:
    """Every marginal metric of every compared column."""
    findings: list[Finding] = []
    for column in inputs.columns.numeric:
        findings += _numeric(column, inputs, human, synthetic)
        findings += _missing(column, human, synthetic)
    for column in inputs.columns.categorical:
        findings += _categorical(column, human, synthetic)
        findings += _missing(column, human, synthetic)
    return findings
