"""Pairwise gaps: correlations, joint tables of column pairs, and the label's relation to features.

Pearson correlations come from the full profiles; Spearman correlations, contingency tables
(numeric columns in 10 equal-width bins over the human range) and label-conditional
distributions from the bounded samples. Correlations and contingency tables cover the pairs of
a `PairPlan` (all pairs up to the loop's `max_pairs`); when it leaves pairs out, an info record
`pairs_tested` says how many and how they were chosen. Label-conditional distributions cover
every feature.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pandas as pd
from scipy import stats

from validation_loop.gaps.distances import tv_distance
from validation_loop.gaps.inputs import GapInputs
from validation_loop.gaps.joint import JointCounter, Table
from validation_loop.gaps.pairs import Pair, PairPlan, describe
from validation_loop.gaps.profile import SideProfile, aligned_counts
from validation_loop.gaps.records import Finding
from validation_loop.gaps.significance import (
    chi_square_test,
    correlation_difference_test,
    correlation_tau2,
    ks_test,
    standardise,
)
from validation_loop.spec import Task

MAX_LABEL_VALUES = 10


class CorrelationSide:
    """Correlation statistics of one bounded sample, standardising each column once.

    Spearman's coefficient is Pearson's on average ranks; a pair with missing values is ranked
    again over the rows where both are present (as SDMetrics does). `tau2` feeds the
    distribution-free test of a correlation difference. Columns are standardised when a pair
    first needs them, so only the columns of tested pairs are held.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.complete: dict[str, bool] = {}
        self.values: dict[str, np.ndarray | None] = {}
        self.ranks: dict[str, np.ndarray | None] = {}

    def _column(self, column: str, ranked: bool) -> np.ndarray | None:
        """A complete column standardised (its ranks if asked), computed once."""
        cache = self.ranks if ranked else self.values
        if column not in cache:
            values = self.frame[column].to_numpy(dtype=float)
            cache[column] = standardise(stats.rankdata(values) if ranked else values)
        return cache[column]

    def _is_complete(self, column: str) -> bool:
        """Whether the column has no missing value in this sample."""
        if column not in self.complete:
            self.complete[column] = not self.frame[column].isna().any()
        return self.complete[column]

    def _pair(
        self, a: str, b: str, ranked: bool
    ) -> tuple[np.ndarray | None, np.ndarray | None, int]:
        """Both columns standardised over the rows where both are present (ranks if asked)."""
        if self._is_complete(a) and self._is_complete(b):
            return self._column(a, ranked), self._column(b, ranked), len(self.frame)
        both = self.frame[[a, b]].dropna()
        x, y = both[a].to_numpy(dtype=float), both[b].to_numpy(dtype=float)
        if ranked:
            x, y = stats.rankdata(x), stats.rankdata(y)
        return standardise(x), standardise(y), len(both)

    def spearman(self, a: str, b: str) -> tuple[float, float, int]:
        """Spearman correlation of `a` and `b`, its tau2, and the rows it used."""
        x, y, n = self._pair(a, b, ranked=True)
        if x is None or y is None:
            return math.nan, math.nan, n
        return float(np.dot(x, y)) / n, correlation_tau2(x, y), n

    def pearson_tau2(self, a: str, b: str) -> float:
        """tau2 of the Pearson correlation of `a` and `b` on this sample."""
        x, y, _ = self._pair(a, b, ranked=False)
        return math.nan if x is None or y is None else correlation_tau2(x, y)


def _correlations(
    inputs: GapInputs, human: SideProfile, synthetic: SideProfile, pairs: list[Pair]
) -> list[Finding]:
    """Pearson (full data) and Spearman (samples) differences for the numeric `pairs`."""
    findings = []
    h_side = CorrelationSide(inputs.human_sample)
    s_side = CorrelationSide(inputs.synthetic_sample)
    for a, b in pairs:
        (r_h, n_h), (r_s, n_s) = human.correlations[(a, b)], synthetic.correlations[(a, b)]
        coefficients = {
            "pearson": (
                (r_h, h_side.pearson_tau2(a, b), n_h),
                (r_s, s_side.pearson_tau2(a, b), n_s),
            ),
            "spearman": (h_side.spearman(a, b), s_side.spearman(a, b)),
        }
        for name, ((r_h, tau_h, n_h), (r_s, tau_s, n_s)) in coefficients.items():
            diff = abs(r_h - r_s)
            p = correlation_difference_test(r_h, tau_h, n_h, r_s, tau_s, n_s)
            findings += [
                Finding(
                    "pairwise",
                    f"{name}_difference",
                    (a, b),
                    diff,
                    f"{name.capitalize()} correlation of '{a}' and '{b}' is {r_s:.3g} in "
                    f"synthetic and {r_h:.3g} in human",
                    f"give the generator the human correlation of '{a}' and '{b}'",
                    p,
                    "pairwise.correlation_difference",
                ),
                Finding(
                    "pairwise",
                    f"correlation_similarity_{name}",
                    (a, b),
                    1 - diff / 2,
                    f"CorrelationSimilarity ({name}) of '{a}' and '{b}' is {1 - diff / 2:.3g}",
                ),
            ]
    return findings


def contingency(human: Table, synthetic: Table) -> tuple[float, float]:
    """TV distance between two joint tables over the union of cells, and the chi-square p."""
    _, h, s = aligned_counts(human, synthetic)  # type: ignore[arg-type]
    if h.sum() == 0 or s.sum() == 0:
        return math.nan, math.nan
    return tv_distance(h, s), chi_square_test(h, s)[1]


def _contingencies(joint: JointCounter, pairs: list[Pair]) -> list[Finding]:
    """Joint-table differences for categorical pairs and binned mixed pairs."""
    findings = []
    for a, b in pairs:
        tv, p = contingency(*joint.tables(a, b))
        findings += [
            Finding(
                "pairwise",
                "contingency_difference",
                (a, b),
                tv,
                f"the joint distribution of '{a}' and '{b}' differs by TV {tv:.3g}",
                f"make the generator model '{a}' and '{b}' jointly, not independently",
                p,
                "pairwise.contingency_difference",
            ),
            Finding(
                "pairwise",
                "contingency_similarity",
                (a, b),
                1 - tv,
                f"ContingencySimilarity of '{a}' and '{b}' is {1 - tv:.3g}",
            ),
        ]
    return findings


def _label_groups(inputs: GapInputs) -> list[tuple[str, pd.Series, pd.Series]]:
    """(slice name, human mask, synthetic mask) per label value or label quartile."""
    label = inputs.columns.label
    h_label, s_label = inputs.human_sample[label], inputs.synthetic_sample[label]
    if inputs.columns.task is Task.classification:
        values = h_label.dropna().astype(str).value_counts().index[:MAX_LABEL_VALUES]
        return [
            (str(v), h_label.astype("object") == v, s_label.astype("object") == v) for v in values
        ]
    edges = np.unique(np.nanquantile(h_label.to_numpy(dtype=float), [0.25, 0.5, 0.75]))
    bounds = [-math.inf, *edges.tolist(), math.inf]
    return [
        (
            f"({low:.4g}, {high:.4g}]",
            (h_label > low) & (h_label <= high),
            (s_label > low) & (s_label <= high),
        )
        for low, high in pairwise(bounds)
    ]


def _label_conditional(inputs: GapInputs) -> list[Finding]:
    """Each feature's distribution within each label value, human against synthetic."""
    label = inputs.columns.label
    findings = []
    for name, h_mask, s_mask in _label_groups(inputs):
        h_rows, s_rows = inputs.human_sample[h_mask], inputs.synthetic_sample[s_mask]
        for feature in inputs.columns.compared:
            if feature == label:
                continue
            if feature in inputs.columns.numeric:
                value, p = ks_test(
                    h_rows[feature].to_numpy(dtype=float), s_rows[feature].to_numpy(dtype=float)
                )
                what = "KS"
            else:
                h_counts = h_rows[feature].dropna().astype(str).value_counts().to_dict()
                s_counts = s_rows[feature].dropna().astype(str).value_counts().to_dict()
                value, p = contingency(h_counts, s_counts)
                what = "TV"
            findings.append(
                Finding(
                    "pairwise",
                    "label_conditional_difference",
                    (feature, label),
                    value,
                    f"where {label} is {name}, '{feature}' differs between human and synthetic "
                    f"({what} {value:.3g})",
                    f"make the generator condition '{feature}' on '{label}' as the human data does",
                    p,
                    "pairwise.label_conditional",
                    slice={label: name},
                )
            )
    return findings


def _pairs_tested(plan: PairPlan, max_pairs: int) -> list[Finding]:
    """An info record on the pairs left out, when the budget left any out."""
    if plan.left_out == 0:
        return []
    return [Finding("pairwise", "pairs_tested", (), plan.tested, describe(plan, max_pairs))]


def pairwise_findings(
    inputs: GapInputs,
    human: SideProfile,
    synthetic: SideProfile,
    joint: JointCounter,
    plan: PairPlan,
) -> list[Finding]:
    """Correlation and contingency metrics of the planned pairs, and label-relation metrics."""
    return [
        *_pairs_tested(plan, inputs.spec.max_pairs),
        *_correlations(inputs, human, synthetic, plan.correlation),
        *_contingencies(joint, plan.contingency),
        *_label_conditional(inputs),
    ]
