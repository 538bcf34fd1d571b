"""Profiles of each side in DuckDB: counts, ranges, binned histograms, value counts, correlations.

Every numeric column is binned on the human side's quantile edges with DuckDB's
`histogram(x, boundaries)`, every categorical column counted with `histogram(x)`, and the
Pearson correlations of the tested numeric pairs computed with `corr`. The aggregates go to
DuckDB in SELECTs of at most `AGGREGATES_PER_SCAN` each: a columnar scan reads only the columns
its SELECT names, so a wide table costs a few narrow scans instead of one SELECT with thousands
of aggregates (slow to plan, and beyond what DuckDB handles at some width).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np

from validation_loop.gaps.inputs import Columns
from validation_loop.warehouse import aggregate, quote_ident

QUANTILE_STEP = 0.05


@dataclass(frozen=True)
class SideProfile:
    """Everything one scan learns about one side."""

    rows: int
    non_null: dict[str, int]
    minimum: dict[str, float]
    maximum: dict[str, float]
    bins: dict[str, np.ndarray]
    categories: dict[str, dict[str, int]]
    correlations: dict[tuple[str, str], tuple[float, int]]
    out_of_bounds: dict[str, int]


def human_edges(samples: Mapping[str, np.ndarray]) -> dict[str, list[float]]:
    """Bin edges per numeric column: the distinct 5%, 10%, ..., 95% quantiles (interpolated, as
    DuckDB's `quantile_cont`) of the human sample's values, given sorted without missing ones
    (exact when the sample holds every human row; an exact quantile of a large side would sort
    every row, and the edges only place the bins)."""
    levels = [round(QUANTILE_STEP * k, 2) for k in range(1, int(1 / QUANTILE_STEP))]
    return {
        column: sorted({float(v) for v in np.quantile(values, levels)}) if values.size else []
        for column, values in samples.items()
    }


def _map_items(value: object) -> list[tuple[object, int]]:
    """A DuckDB MAP (as Python receives it) as (key, count) pairs."""
    if not value:
        return []
    assert isinstance(value, dict)
    return list(value.items())


def profile(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    columns: Columns,
    edges: dict[str, list[float]],
    pairs: Sequence[tuple[str, str]],
    bounds: dict[str, tuple[float, float]] | None = None,
) -> SideProfile:
    """Profile one side, with the Pearson correlations of the numeric `pairs`; `bounds` (the
    human range per numeric column) makes it also count the values outside."""
    bounds = bounds or {}
    parts = ["count(*)"]
    for column in columns.numeric:
        col = quote_ident(column)
        low, high = bounds.get(column, (math.nan, math.nan))
        outside = (
            f"coalesce(count_if({col} < {low!r} OR {col} > {high!r}), 0)"
            if math.isfinite(low) and math.isfinite(high)
            else "0"
        )
        parts += [
            f"count({col})",
            f"min({col})",
            f"max({col})",
            f"histogram({col}, {edges[column] or [0.0]})",
            outside,
        ]
    for column in columns.categorical:
        col = quote_ident(column)
        parts += [f"count({col})", f"histogram({col})"]
    for a, b in pairs:
        qa, qb = quote_ident(a), quote_ident(b)
        parts += [
            f"corr({qa}, {qb})",
            f"regr_count({qa}, {qb})",
        ]
    values = iter(aggregate(con, relation, parts))
    rows = int(next(values))
    non_null: dict[str, int] = {}
    minimum: dict[str, float] = {}
    maximum: dict[str, float] = {}
    bins: dict[str, np.ndarray] = {}
    categories: dict[str, dict[str, int]] = {}
    out_of_bounds: dict[str, int] = {}
    for column in columns.numeric:
        non_null[column] = int(next(values))
        low, high, histogram = next(values), next(values), dict(_map_items(next(values)))
        minimum[column] = math.nan if low is None else float(low)
        maximum[column] = math.nan if high is None else float(high)
        upper = [*(edges[column] or [0.0]), math.inf]
        bins[column] = np.array([histogram.get(b, 0) for b in upper], dtype=float)
        out_of_bounds[column] = int(next(values))
    for column in columns.categorical:
        non_null[column] = int(next(values))
        categories[column] = {str(k): int(v) for k, v in _map_items(next(values))}
    correlations = {}
    for pair in pairs:
        r, n = next(values), int(next(values))
        correlations[pair] = (math.nan if r is None else float(r), n)
    return SideProfile(
        rows, non_null, minimum, maximum, bins, categories, correlations, out_of_bounds
    )


def aligned_counts(
    human: dict[str, int], synthetic: dict[str, int]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Category counts of both sides over the union of categories, human's most common first."""
    keys = sorted(human, key=lambda k: (-human[k], k))
    keys += sorted(k for k in synthetic if k not in human)
    return (
        keys,
        np.array([human.get(k, 0) for k in keys], dtype=float),
        np.array([synthetic.get(k, 0) for k in keys], dtype=float),
    )
