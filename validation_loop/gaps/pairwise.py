"""Pairwise gaps: correlations, joint tables of column pairs, and the label's relation to features.

Pearson correlations come from the full one-scan profiles; Spearman correlations, contingency
tables (numeric columns in 10 equal-width bins over the human range) and label-conditional
distributions from the bounded samples.
"""

from __future__ import annotations

import math
from itertools import combinations, pairwise

import numpy as np
import pandas as pd
from scipy import stats

from validation_loop.gaps.distances import tv_distance
from validation_loop.gaps.inputs import GapInputs
from validation_loop.gaps.joint import JointCounter, Table
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
    distribution-free test of a correlation difference.
    """

    def __init__(self, frame: pd.DataFrame, columns: list[str]) -> None:
        self.frame = frame
        complete = [c for c in columns if not frame[c].isna().any()]
        self.values = {c: standardise(frame[c].to_numpy(dtype=float)) for c in complete}
        self.ranks = {
            c: standardise(stats.rankdata(frame[c].to_numpy(dtype=float))) for c in complete
        }

    def _pair(
        self, a: str, b: str, ranked: bool
    ) -> tuple[np.ndarray | None, np.ndarray | None, int]:
        """Both columns standardised over the rows where both are present (ranks if asked)."""
        cache = self.ranks if ranked else self.values
        if a in cache and b in cache:
            return cache[a], cache[b], len(self.frame)
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


def _correlations(inputs: GapInputs, human: SideProfile, synthetic: SideProfile) -> list[Finding]:
    """Pearson (full data) and Spearman (samples) differences for every numeric pair."""
    findings = []
    numeric = inputs.columns.numeric
    h_side = CorrelationSide(inputs.human_sample, numeric)
    s_side = CorrelationSide(inputs.synthetic_sample, numeric)
    for a, b in combinations(numeric, 2):
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


def _contingencies(inputs: GapInputs, joint: JointCounter) -> list[Finding]:
    """Joint-table differences for categorical pairs and quintile-binned mixed pairs."""
    categorical = inputs.columns.categorical
    pairs = [
        *combinations(categorical, 2),
        *((num, cat) for num in inputs.columns.numeric for cat in categorical),
    ]
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


def pairwise_findings(
    inputs: GapInputs, human: SideProfile, synthetic: SideProfile, joint: JointCounter
) -> list[Finding]:
    """Correlation, contingency and label-relation metrics."""
    return [
        *_correlations(inputs, human, synthetic),
        *_contingencies(inputs, joint),
        *_label_conditional(inputs),
    ]
