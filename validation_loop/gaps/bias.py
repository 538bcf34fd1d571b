"""Bias gaps: per sensitive group, the label rate (or mean) and the group's share.

For each sensitive attribute and label value (classification: the rarer class of a binary label,
else the most common classes; regression: the label mean in human standard deviations) we
estimate the outcome of every group with at least 10 rows on each side. A *rate gap* is a group
whose synthetic outcome differs from its human outcome. A *disparity change* compares, for the
pair of groups where it changed most, the gap between the two groups in synthetic with the gap
in human (its p-value Bonferroni-corrected for choosing that pair), and says whether synthetic
invents, amplifies, erases or reverses it. Rates use Agresti-Caffo variances; tests are normal
approximations on the estimates.
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
MIN_GROUP = 10  # rows a group needs on each side before its outcome is compared


@dataclass(frozen=True)
class Estimate:
    """An outcome estimate for one group on one side, with its variance and support."""

    value: float
    variance: float


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
) -> tuple[dict[str, int], dict[str, tuple[int, float, float]]]:
    """Regression: rows per group, and (labelled rows, mean, variance) of the label per group."""
    label = quote_ident(inputs.columns.label)
    rows = inputs.con.execute(
        f"SELECT {quote_ident(attribute)}, count(*), count({label}), avg({label}), "
        f"var_samp({label}) FROM {relation} "
        f"WHERE {quote_ident(attribute)} IS NOT NULL GROUP BY ALL"
    ).fetchall()
    sizes = {str(g): int(total) for g, total, _, _, _ in rows}
    moments = {
        str(g): (int(n), float(m), float(v))
        for g, _, n, m, v in rows
        if n >= MIN_GROUP and v is not None
    }
    return sizes, moments


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
        if len(totals) == 2:
            labels = [min(totals, key=lambda k: (totals[k], k))]  # the rarer class
        else:
            labels = sorted(totals, key=lambda k: (-totals[k], k))[:MAX_CLASSES]

        def rate(
            side: dict[str, dict[str, int]], size: dict[str, int], label: str
        ) -> dict[str, Estimate]:
            # Agresti-Caffo: the variance of (k + 1) / (n + 2), which never collapses to 0.
            return {
                g: Estimate(k / size[g], (k + 1) * (size[g] - k + 1) / (size[g] + 2) ** 3)
                for g in side
                if size[g] >= MIN_GROUP
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
    (h_sizes, h_m), (s_sizes, s_m) = (
        _group_moments(inputs, r, attribute) for r in (inputs.human, inputs.synthetic)
    )
    total = sum(n for n, _, _ in h_m.values())
    pooled_mean = sum(n * m for n, m, _ in h_m.values()) / total if total else 0.0
    pooled_var = (
        sum((n - 1) * v + n * (m - pooled_mean) ** 2 for n, m, v in h_m.values()) / (total - 1)
        if total > 1
        else 1.0
    )
    scale = math.sqrt(pooled_var) or 1.0

    def standardised(side: dict[str, tuple[int, float, float]]) -> dict[str, Estimate]:
        return {g: Estimate(m / scale, v / scale**2 / n) for g, (n, m, v) in side.items()}

    name = f"mean of {inputs.columns.label} (in human SDs)"
    return h_sizes, s_sizes, {name: (standardised(h_m), standardised(s_m))}


def _disparity(
    attribute: str,
    outcome: str,
    human: dict[str, Estimate],
    synthetic: dict[str, Estimate],
    label: str,
) -> Finding | None:
    """The pair of groups whose outcome gap changed most from human to synthetic."""
    shared = sorted(set(human) & set(synthetic))
    pairs = len(shared) * (len(shared) - 1) // 2
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
        # The pair was chosen for its change: Bonferroni over every pair it was chosen from.
        min(1.0, _z_p(d_s - d_h, var_h + var_s) * pairs),
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
