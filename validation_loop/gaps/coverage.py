"""Coverage gaps: categories and slices missing, rare or inflated in synthetic; ranges and bounds.

Share ratios compare a category's (or slice's) share among synthetic rows with its share among
human rows. Out-of-bounds shares are tested against what a fresh sample from the human
distribution would show: about 2/(n+1) of values beyond the human range, and the Good-Turing
missing mass (human singletons / n) for categories the human side never showed.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np
from scipy import stats

from validation_loop.gaps.distances import boundary_adherence, range_coverage
from validation_loop.gaps.inputs import GapInputs
from validation_loop.gaps.joint import JointCounter
from validation_loop.gaps.profile import SideProfile
from validation_loop.gaps.records import Finding
from validation_loop.gaps.significance import binomial_excess_test, two_proportion_test


def share_ratio_findings(
    kind: str,
    metric: str,
    columns: tuple[str, ...],
    human: dict[Any, int],
    synthetic: dict[Any, int],
    describe: str,
) -> list[Finding]:
    """One finding per human category (or slice): synthetic share / human share, tested."""
    n, m = sum(human.values()), sum(synthetic.values())
    if n == 0 or m == 0:
        return []
    findings = []
    for key, count in sorted(human.items(), key=lambda kv: (-kv[1], str(kv[0]))):
        values = key if isinstance(key, tuple) else (key,)
        where = dict(zip(columns, values, strict=True))
        h_share, s_share = count / n, synthetic.get(key, 0) / m
        ratio = s_share / h_share
        label = ", ".join(f"{c}={v}" for c, v in where.items())
        if ratio < 1:
            rule, action = "coverage.share_ratio_low", f"raise the weight of {label}"
            if synthetic.get(key, 0) == 0:
                action = f"add {label} to the generator"
        else:
            rule, action = "coverage.share_ratio_high", f"lower the weight of {label}"
        findings.append(
            Finding(
                kind,
                metric,
                columns,
                ratio,
                f"{describe} {label} is {s_share:.2%} of synthetic rows and {h_share:.2%} of "
                f"human rows",
                action,
                two_proportion_test(count, n, synthetic.get(key, 0), m),
                rule,
                slice=where,
            )
        )
    return findings


def _categorical(
    column: str, human: SideProfile, synthetic: SideProfile, describe: str, metric: str
) -> list[Finding]:
    """Category shares, CategoryCoverage and unseen categories of one column."""
    h, s = human.categories[column], synthetic.categories[column]
    findings = share_ratio_findings("coverage", metric, (column,), h, s, describe)
    covered = sum(1 for k in h if s.get(k, 0) > 0) / len(h) if h else math.nan
    findings.append(
        Finding(
            "coverage",
            "category_coverage",
            (column,),
            covered,
            f"CategoryCoverage of '{column}' is {covered:.3g}",
        )
    )
    n, m = sum(h.values()), sum(s.values())
    unseen = sum(v for k, v in s.items() if k not in h)
    if m and n:
        share = unseen / m
        expected, variance = unseen_mass(h)
        excess = share - expected
        spread = math.sqrt(expected * (1 - expected) / m + variance)
        p = float(stats.norm.sf(excess / spread)) if spread > 0 else (1.0 if excess <= 0 else 0.0)
        findings.append(
            Finding(
                "coverage",
                "unseen_category_share",
                (column,),
                share,
                f"{share:.2%} of synthetic '{column}' values never occur in the human data "
                f"(a fresh human sample would show about {expected:.2%})",
                f"restrict the generator's '{column}' to categories seen in human data",
                p,
                "coverage.out_of_bounds",
                effect=excess,
            )
        )
    return findings


def unseen_mass(human: dict[str, int]) -> tuple[float, float]:
    """Good-Turing estimate of the share of new data in categories the human sample never
    showed (singletons / n), and Esty's variance of that estimate."""
    n = sum(human.values())
    singles = sum(1 for v in human.values() if v == 1)
    doubles = sum(1 for v in human.values() if v == 2)
    if n == 0:
        return 0.0, 0.0
    return singles / n, max((singles + 2 * doubles) / n**2 - singles**2 / n**3, 0.0)


def _numeric(
    column: str, inputs: GapInputs, human: SideProfile, synthetic: SideProfile
) -> list[Finding]:
    """RangeCoverage and BoundaryAdherence of one numeric column, with tests."""
    h_min, h_max = human.minimum[column], human.maximum[column]
    s_min, s_max = synthetic.minimum[column], synthetic.maximum[column]
    n, m = human.non_null[column], synthetic.non_null[column]
    outside = synthetic.out_of_bounds[column] if n else m
    adherence = boundary_adherence(m - outside, m, synthetic.rows, human_has_missing=human.rows > n)
    findings = [
        Finding(
            "coverage",
            "boundary_adherence",
            (column,),
            adherence,
            f"BoundaryAdherence of '{column}' is {adherence:.3g}",
        )
    ]
    if not (n and m):
        return findings
    coverage = range_coverage(h_min, h_max, s_min, s_max)
    values = inputs.human_sample[column].to_numpy(dtype=float)
    values = values[~np.isnan(values)]
    inside = float(np.mean((values >= s_min) & (values <= s_max))) if values.size else 1.0
    return [
        *findings,
        Finding(
            "coverage",
            "range_coverage",
            (column,),
            coverage,
            f"synthetic '{column}' spans {coverage:.1%} of the human range "
            f"[{h_min:.4g}, {h_max:.4g}] (synthetic [{s_min:.4g}, {s_max:.4g}])",
            f"widen the generator's range of '{column}' to the human range",
            # The human mass inside the range of m draws from the human distribution is
            # Beta(m - 1, 2): the chance of a range covering this little.
            float(stats.beta.cdf(inside, m - 1, 2)) if m >= 2 else None,
            "coverage.range_coverage",
        ),
        Finding(
            "coverage",
            "out_of_bounds_share",
            (column,),
            outside / m,
            f"{outside / m:.2%} of synthetic '{column}' values fall outside the human range",
            f"clip the generator's '{column}' to the human range",
            binomial_excess_test(outside, m, 2 / (n + 1)),
            "coverage.out_of_bounds",
        ),
    ]


def coverage_findings(
    inputs: GapInputs, human: SideProfile, synthetic: SideProfile, joint: JointCounter
) -> list[Finding]:
    """Category and slice shares, ranges and bounds (sensitive attributes go to bias)."""
    columns = inputs.columns
    findings: list[Finding] = []
    for column in columns.categorical:
        if column in columns.sensitive:
            continue
        is_slice = column in columns.slices
        findings += _categorical(
            column,
            human,
            synthetic,
            "slice" if is_slice else "category",
            "slice_share_ratio" if is_slice else "category_share_ratio",
        )
    for pair in combinations(columns.slices, 2):
        findings += share_ratio_findings(
            "coverage", "slice_share_ratio", pair, *joint.tables(*pair), "slice"
        )
    for column in columns.numeric:
        findings += _numeric(column, inputs, human, synthetic)
    return findings
