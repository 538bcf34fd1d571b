"""The report score: one number in [0, 1], higher is closer to the human data.

The score is the mean of the components a comparison has, each in [0, 1] (docs/metrics.md):

- `column_shapes`: mean KSComplement / TVComplement over columns (as SDMetrics' Column Shapes);
- `column_pair_trends`: mean Pearson CorrelationSimilarity / ContingencySimilarity over pairs
  (as SDMetrics' Column Pair Trends);
- `coverage`: mean CategoryCoverage / RangeCoverage over columns;
- `diversity`: 1 minus the duplicate-rate excess (0 when synthetic repeats no more than human);
- `fairness`: 1 minus the mean absolute group outcome gap over groups (clipped at 0);
- `detection`: SDMetrics' detection score (models enabled);
- `utility`: 1 minus the balanced-accuracy drop (classification) or the R² drop (regression).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

COMPONENTS: dict[str, tuple[set[str], str]] = {
    "column_shapes": ({"ks_complement", "tv_complement"}, "mean"),
    "column_pair_trends": (
        {"correlation_similarity_pearson", "contingency_similarity"},
        "mean",
    ),
    "coverage": ({"category_coverage", "range_coverage"}, "mean"),
    "diversity": ({"duplicate_rate_excess"}, "one_minus_excess"),
    "fairness": ({"group_outcome_gap"}, "one_minus_abs"),
    "detection": ({"detection_score"}, "mean"),
    "utility": ({"balanced_accuracy_gap", "r2_gap"}, "one_minus_excess"),
}


def _clip(value: float) -> float:
    """Into [0, 1]."""
    return min(1.0, max(0.0, value))


def score_components(records: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Each component the records allow, rounded to 4 digits."""
    values: dict[str, list[float]] = {name: [] for name in COMPONENTS}
    for record in records:
        value = record.get("value")
        if value is None or not math.isfinite(value):
            continue
        for name, (metrics, how) in COMPONENTS.items():
            if record["metric"] not in metrics:
                continue
            if how == "mean":
                values[name].append(_clip(value))
            elif how == "one_minus_excess":
                values[name].append(_clip(1 - max(0.0, value)))
            else:
                values[name].append(abs(value))
    out = {}
    for name, found in values.items():
        if not found:
            continue
        mean = sum(found) / len(found)
        out[name] = round(_clip(1 - mean) if COMPONENTS[name][1] == "one_minus_abs" else mean, 4)
    return out


def report_score(components: dict[str, float]) -> float | None:
    """The mean of the components; None when there is none."""
    if not components:
        return None
    return round(sum(components.values()) / len(components), 4)
