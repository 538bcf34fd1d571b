"""Diversity gaps, the signs of mode collapse: duplicates, near-duplicates, entropy, spread.

Nearest-neighbour distances cost rows^2 x encoded width; beyond `NEIGHBOUR_WIDTH` encoded
columns the distance checks here and in privacy compare fewer rows (`width_share`), so a wide
table costs what a `NEIGHBOUR_WIDTH`-wide one does.
"""

from __future__ import annotations

import math

import numpy as np

from validation_loop.gaps.distances import entropy
from validation_loop.gaps.encoding import MixedEncoder, nearest_distances
from validation_loop.gaps.inputs import GapInputs
from validation_loop.gaps.marginal import chi2_key, ks_key
from validation_loop.gaps.matches import ExactMatches
from validation_loop.gaps.profile import SideProfile, aligned_counts
from validation_loop.gaps.records import Finding
from validation_loop.gaps.significance import chi_square_test, two_proportion_test

NEIGHBOUR_ROWS = 2_000
NEIGHBOUR_WIDTH = 256
NEAR_QUANTILE = 0.05


def width_share(width: int) -> float:
    """The share of their usual rows the distance checks compare at this encoded width: 1 up to
    `NEIGHBOUR_WIDTH`, then `sqrt(NEIGHBOUR_WIDTH / width)`, which keeps rows^2 x width fixed."""
    return min(1.0, math.sqrt(NEIGHBOUR_WIDTH / max(width, 1)))


def _duplicates(inputs: GapInputs, matches: ExactMatches) -> list[Finding]:
    """Exact duplicate rate of synthetic against human."""
    columns = inputs.columns.compared
    h_dup, s_dup = matches.human_duplicates, matches.synthetic_duplicates
    n, m = inputs.human_rows, inputs.synthetic_rows
    h_rate, s_rate = h_dup / n, s_dup / m
    return [
        Finding(
            "diversity",
            "duplicate_rate_excess",
            tuple(columns),
            s_rate - h_rate,
            f"{s_rate:.2%} of synthetic rows duplicate another synthetic row, against {h_rate:.2%} "
            "in human",
            "lower the generator's duplicate rate (raise its temperature or noise)",
            two_proportion_test(h_dup, n, s_dup, m),
            "diversity.duplicate_excess",
        )
    ]


def _near_duplicates(inputs: GapInputs) -> list[Finding]:
    """Rows whose nearest other row is closer than the human 5% nearest-neighbour distance."""
    columns = inputs.columns
    size = min(NEIGHBOUR_ROWS, len(inputs.human_sample), len(inputs.synthetic_sample))
    if size < 20:
        return []
    human = inputs.human_sample.iloc[:size]
    encoder = MixedEncoder(columns.numeric, columns.categorical).fit(human)
    size = max(20, round(size * width_share(encoder.width)))
    encoded = encoder.transform(human.iloc[:size])
    h_dist = nearest_distances(encoded, encoded, True)
    synthetic = encoder.transform(inputs.synthetic_sample.iloc[:size])
    s_dist = nearest_distances(synthetic, synthetic, True)
    radius = float(np.quantile(h_dist, NEAR_QUANTILE))
    h_near, s_near = int((h_dist <= radius).sum()), int((s_dist <= radius).sum())
    return [
        Finding(
            "diversity",
            "near_duplicate_rate_excess",
            tuple(columns.compared),
            (s_near - h_near) / size,
            f"{s_near / size:.2%} of synthetic rows have a near-identical synthetic neighbour "
            f"(distance <= {radius:.3g}), against {h_near / size:.2%} of human rows "
            f"({size} rows each)",
            "raise the generator's diversity (temperature, noise) so rows do not cluster",
            two_proportion_test(h_near, size, s_near, size),
            "diversity.near_duplicate_excess",
        )
    ]


def _entropy(column: str, human: SideProfile, synthetic: SideProfile) -> Finding:
    """Synthetic / human entropy of a categorical column (below 1: fewer, more lopsided values)."""
    h = np.array(list(human.categories[column].values()), dtype=float)
    s = np.array(list(synthetic.categories[column].values()), dtype=float)
    h_entropy = entropy(h)
    ratio = entropy(s) / h_entropy if h_entropy > 0 else math.nan
    return Finding(
        "diversity",
        "entropy_ratio",
        (column,),
        ratio,
        f"synthetic '{column}' has {ratio:.3g} times the human entropy",
        f"spread the generator's '{column}' over more categories, as in human data",
        None if math.isnan(ratio) else _p(human, synthetic, column),
        "diversity.entropy_ratio",
        test_key=chi2_key(column),
    )


def _p(human: SideProfile, synthetic: SideProfile, column: str) -> float:
    """The column's chi-square p-value (the entropy ratio is an effect size of that test)."""
    _, h, s = aligned_counts(human.categories[column], synthetic.categories[column])
    return chi_square_test(h, s)[1]


def _spread(column: str, inputs: GapInputs) -> list[Finding]:
    """IQR and 1%-99% span of a numeric column, synthetic over human."""
    h, s = inputs.sorted_values("human", column), inputs.sorted_values("synthetic", column)
    if h.size < 2 or s.size < 2:
        return []
    p = inputs.column_ks(column)[1]
    findings = []
    for metric, levels, what in (
        ("iqr_ratio", (0.25, 0.75), "interquartile range"),
        ("tail_span_ratio", (0.01, 0.99), "1%-99% span"),
    ):
        h_span = float(np.subtract(*np.quantile(h, levels)[::-1]))
        s_span = float(np.subtract(*np.quantile(s, levels)[::-1]))
        ratio = s_span / h_span if h_span > 0 else math.nan
        low = ratio < 1
        findings.append(
            Finding(
                "diversity",
                metric,
                (column,),
                ratio,
                f"the synthetic {what} of '{column}' is {ratio:.3g} times the human one",
                f"{'widen' if low else 'narrow'} the generator's '{column}' "
                f"({'raise' if low else 'lower'} its scale or tails)",
                p,
                "diversity.spread_ratio_low" if low else "diversity.spread_ratio_high",
                test_key=ks_key(column),
            )
        )
    return findings


def diversity_findings(
    inputs: GapInputs, human: SideProfile, synthetic: SideProfile, matches: ExactMatches
) -> list[Finding]:
    """Duplicates, near-duplicates, entropy and spread."""
    findings = [*_duplicates(inputs, matches), *_near_duplicates(inputs)]
    findings += [_entropy(c, human, synthetic) for c in inputs.columns.categorical]
    for column in inputs.columns.numeric:
        findings += _spread(column, inputs)
    return findings
