"""Collapse: diversity and coverage that fall generator version after generator version.

For each diversity or coverage value (entropy ratio, IQR and tail-span ratios, category and
range coverage, where ratios above 1 count as 1; and 1 minus the duplicate and near-duplicate
excess), the history holds its value in the newest report of every generator version. A
`collapse` gap is raised when the value has fallen from its best earlier version (the peak) by
at least the `collapse.drop` thresholds *and* the current version's value differs
from the human data beyond noise (its own q-value passes the false discovery rate): the
fall is then real and not a wobble of one sample. A value without a test of its own (category
coverage) needs instead to have fallen at every one of at least three versions. The message
says whether it fell at every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from validation_loop.gaps.records import GapRecord
from validation_loop.gaps.thresholds import Severity, resolve_rules

MIN_STEADY_VERSIONS = 3
COLLAPSE_METRICS = (
    "entropy_ratio",
    "iqr_ratio",
    "tail_span_ratio",
    "category_coverage",
    "range_coverage",
    "duplicate_rate_excess",
    "near_duplicate_rate_excess",
)


@dataclass(frozen=True)
class VersionValue:
    """One metric's value (and evidence) in the newest report of one generator version."""

    version: str
    value: float
    q_value: float | None


def _level(metric: str, value: float) -> float:
    """How much of the human diversity is there: ratios above 1 count as 1; for duplicate
    excesses, 1 minus the excess."""
    if metric.endswith("_excess"):
        return 1.0 - max(0.0, value)
    return min(value, 1.0)


def collapse_records(
    history: dict[tuple[str, tuple[str, ...]], list[VersionValue]],
    overrides: dict[str, float],
) -> list[GapRecord]:
    """One record per (metric, columns) series with two or more versions, oldest first."""
    rules, alpha, alpha_error = resolve_rules(overrides)
    rule = rules["collapse.drop"]
    records = []
    for (metric, columns), series in sorted(history.items()):
        points = [p for p in series if math.isfinite(p.value)]
        if len(points) < 2:
            continue
        levels = [_level(metric, p.value) for p in points]
        peak = max(range(len(points) - 1), key=lambda i: (levels[i], -i))
        points, levels = points[peak:], levels[peak:]
        last = points[-1]
        drop = levels[0] - levels[-1]
        steady = all(b < a for a, b in pairwise(levels))
        if last.q_value is None:  # a value without a test: persistence is the evidence
            significant = strong = steady and len(points) >= MIN_STEADY_VERSIONS
        else:
            significant, strong = last.q_value <= alpha, last.q_value <= alpha_error
        severity: Severity = rule.level(drop) if significant else "info"
        if severity == "error" and not strong:
            severity = "warn"
        versions = " -> ".join(f"{p.version} {p.value:.3g}" for p in points)
        how = "at every version" if steady else f"since {points[0].version}"
        message = f"{metric} of {', '.join(columns)} fell {how}: {versions}"
        threshold = rule.error if severity == "error" else rule.warn
        if severity != "info":
            message += (
                f" (fall {drop:.3g} is above the {severity} threshold {threshold:.3g}); "
                "raise the generator's noise and lower its duplicate rate"
            )
        records.append(
            GapRecord(
                kind="collapse",
                metric=f"{metric}_drop",
                columns=list(columns),
                slice={"versions": [p.version for p in points]},
                value=round(drop, 6),
                threshold=threshold if severity != "info" else rule.warn,
                p_value=None,
                q_value=last.q_value,
                severity=severity,
                message=message + ".",
            )
        )
    return records


def series_from_rows(
    rows: list[dict[str, Any]],
) -> dict[tuple[str, tuple[str, ...]], list[VersionValue]]:
    """Group stored rows (version, metric, columns, value, q_value; oldest version first)."""
    history: dict[tuple[str, tuple[str, ...]], list[VersionValue]] = {}
    for row in rows:
        if row["metric"] not in COLLAPSE_METRICS or row["value"] is None:
            continue
        key = (row["metric"], tuple(row["columns"]))
        history.setdefault(key, []).append(
            VersionValue(row["generator_version"], float(row["value"]), row["q_value"])
        )
    return history
