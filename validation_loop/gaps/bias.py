"""Bias gaps: per sensitive group, the label rate (or mean) and the group's share.

For each sensitive attribute and label value (classification: the rarer class of a binary label,
else each class; regression: the label mean in human standard deviations) we estimate the
outcome per group on both sides. A *rate gap* is a group whose synthetic outcome differs from its
human outcome. A *disparity change* compares, for the pair of groups where it changed most, the
gap between the two groups in synthetic with the gap in human, and says whether synthetic
invents, amplifies, erases or reverses it. Tests are normal approximations on the estimates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

from scipy import stats

from validation_loop.gaps.coverage import share_ratio_findings
from validation_loop.gaps.inputs import GapInputs
from validation_loop.gaps.records import Finding
from validation_loop.spec import Task
from validation_loop.warehouse import quote_ident

MAX_CLASSES = 10


@dataclass(frozen=True)
class Estimate:
    """An outcome estimate for one group on one side, with its variance and support."""

    value: float
    variance: float
    n: int


def _z_p(diff: float, variance: float) -> float:
    """Two-sided p-value of a normal difference."""
    if variance <= 0:
        return 1.0 if diff == 0 else 0.0
    return float(2 * stats.norm.sf(abs(diff) / math.sqrt(variance)))


def _group_counts(inputs: GapInputs, relation: str, attribute: str) -> dict[str, dict[str, int]]:
    """Classification: counts per (group, label value) on one side, one GROUP BY."""
    rows = inputs.con.execute(
        f"SELECT {quote_ident(attribute)}, {quote_ident(inputs.columns.label)}, count(*) "
        f"FROM {relation} WHERE {quote_ident(attribute)} IS NOT NULL "
        f"AND {quote_ident(inputs.columns.label)} IS NOT NULL GROUP BY ALL"
    ).fetchall()
    counts: dict[str, dict[str, int]] = {}
    for group, label, count in rows:
        counts.setdefault(str(group), {})[str(label)] = int(count)
    return counts


def _group_moments(
    inputs: GapInputs, relation: str, attribute: str
) -> dict[str, tuple[int, float, float]]:
    """Regression: (count, mean, variance) of the label per group on one side."""
    label = quote_ident(inputs.columns.label)
    rows = inputs.con.execute(
        f"SELECT {quote_ident(attribute)}, count({label}), avg({label}), "
        f"coalesce(var_samp({label}), 0) FROM {relation} "
        f"WHERE {quote_ident(attribute)} IS NOT NULL GROUP BY ALL"
    ).fetchall()
    return {str(g): (int(n), float(m or 0), float(v)) for g, n, m, v in rows}


def _outcomes(
    inputs: GapInputs, attribute: str
) -> tuple[
    dict[str, int], dict[str, int], dict[str, tuple[dict[str, Estimate], dict[str, Estimate]]]
]:
    """Group sizes per side, and per outcome name the estimates per group per side."""
    if inputs.columns.task is Task.classification:
        h, s = (_group_counts(inputs, r, attribute) for r in (inputs.human, inputs.synthetic))
        sizes = [{g: sum(c.values()) for g, c in side.items()} for side in (h, s)]
        totals: dict[str, int] = {}
        for counts in h.values():
            for label, count in counts.items():
                totals[label] = totals.get(label, 0) + count
        labels = sorted(totals, key=lambda k: (totals[k], k))
        labels = labels[:1] if len(labels) == 2 else labels[:MAX_CLASSES]

        def rate(
            side: dict[str, dict[str, int]], size: dict[str, int], label: str
        ) -> dict[str, Estimate]:
            return {
                g: Estimate(k / size[g], (k / size[g]) * (1 - k / size[g]) / size[g], size[g])
                for g in side
                for k in [side[g].get(label, 0)]
            }

        outcomes = {
            f"rate of {inputs.columns.label}={label}": (
                rate(h, sizes[0], label),
                rate(s, sizes[1], label),
            )
            for label in labels
        }
        return sizes[0], sizes[1], outcomes
    h_m, s_m = (_group_moments(inputs, r, attribute) for r in (inputs.human, inputs.synthetic))
    total = sum(n for n, _, _ in h_m.values())
    pooled_mean = sum(n * m for n, m, _ in h_m.values()) / total if total else 0.0
    pooled_var = (
        sum((n - 1) * v + n * (m - pooled_mean) ** 2 for n, m, v in h_m.values()) / (total - 1)
        if total > 1
        else 1.0
    )
    scale = math.sqrt(pooled_var) or 1.0

    def standardised(side: dict[str, tuple[int, float, float]]) -> dict[str, Estimate]:
        return {g: Estimate(m / scale, v / scale**2 / n, n) for g, (n, m, v) in side.items() if n}

    name = f"mean of {inputs.columns.label} (in human SDs)"
    return (
        {g: n for g, (n, _, _) in h_m.items()},
        {g: n for g, (n, _, _) in s_m.items()},
        {name: (standardised(h_m), standardised(s_m))},
    )


def _disparity(
    attribute: str,
    outcome: str,
    human: dict[str, Estimate],
    synthetic: dict[str, Estimate],
    label: str,
) -> Finding | None:
    """The pair of groups whose outcome gap changed most from human to synthetic."""
    shared = sorted(set(human) & set(synthetic))
    best = None
    for a, b in combinations(shared, 2):
        d_h = human[a].value - human[b].value
        d_s = synthetic[a].value - synthetic[b].value
        if best is None or abs(d_s - d_h) > abs(best[3] - best[2]):
            best = (a, b, d_h, d_s)
    if best is None:
        return None
    a, b, d_h, d_s = best
    var_h = human[a].variance + human[b].variance
    var_s = synthetic[a].variance + synthetic[b].variance
    human_real = _z_p(d_h, var_h) < 0.05
    if not human_real and _z_p(d_s, var_s) < 0.05:
        verdict = "invents a disparity the human data does not show"
    elif human_real and d_h * d_s < 0:
        verdict = "reverses the human disparity"
    elif abs(d_s) > abs(d_h):
        verdict = "amplifies the human disparity"
    else:
        verdict = "erases part of the human disparity"
    return Finding(
        "bias",
        "disparity_change",
        (attribute, label),
        d_s - d_h,
        f"the {outcome} of {attribute}={a} minus {attribute}={b} is {d_s:.3g} in synthetic and "
        f"{d_h:.3g} in human: synthetic {verdict}",
        f"match the human {outcome} per {attribute} group; never invent a disparity",
        _z_p(d_s - d_h, var_h + var_s),
        "bias.disparity_change",
        slice={attribute: [a, b]},
        effect=abs(d_s - d_h),
    )


def bias_findings(inputs: GapInputs) -> list[Finding]:
    """Group shares, per-group outcome gaps and disparity changes per sensitive attribute."""
    label = inputs.columns.label
    findings: list[Finding] = []
    for attribute in inputs.columns.sensitive:
        h_sizes, s_sizes, outcomes = _outcomes(inputs, attribute)
        findings += share_ratio_findings(
            "bias", "group_share_ratio", (attribute,), h_sizes, s_sizes, "group"
        )
        for outcome, (human, synthetic) in outcomes.items():
            for group in sorted(set(human) & set(synthetic)):
                h, s = human[group], synthetic[group]
                findings.append(
                    Finding(
                        "bias",
                        "group_outcome_gap",
                        (attribute, label),
                        s.value - h.value,
                        f"the {outcome} for {attribute}={group} is {s.value:.3g} in synthetic and "
                        f"{h.value:.3g} in human",
                        f"match the human {outcome} for {attribute}={group}",
                        _z_p(s.value - h.value, s.variance + h.variance),
                        "bias.rate_gap",
                        slice={attribute: group},
                        effect=abs(s.value - h.value),
                    )
                )
            change = _disparity(attribute, outcome, human, synthetic, label)
            if change is not None:
                findings.append(change)
    return findings
