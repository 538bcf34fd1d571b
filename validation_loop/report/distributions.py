"""Human and synthetic distributions of a few columns, for the report's plots (SQL in DuckDB)."""

from __future__ import annotations

from typing import Any

import duckdb

from validation_loop.gaps.selection import Comparison
from validation_loop.spec import ColumnType, LoopSpec
from validation_loop.warehouse import quote_ident

BINS = 20
TOP_CATEGORIES = 12
MISSING_LABEL = "(missing)"


def _numeric(con: duckdb.DuckDBPyConnection, comparison: Comparison, column: str) -> dict[str, Any]:
    """Shares per bin over the joint range of both sides, 20 equal bins."""
    c = quote_ident(column)
    sides = (
        f"SELECT 'human' AS side, CAST({c} AS DOUBLE) AS x FROM ({comparison.human_sql}) "
        f"UNION ALL SELECT 'synthetic', CAST({c} AS DOUBLE) FROM ({comparison.synthetic_sql})"
    )
    low, high = con.execute(
        f"SELECT min(x), max(x) FROM ({sides}) WHERE x IS NOT NULL AND isfinite(x)"
    ).fetchone() or (None, None)
    if low is None or high is None:
        return {"type": "numeric", "edges": [], "human": [], "synthetic": []}
    width = (high - low) / BINS or 1.0
    rows = con.execute(
        f"SELECT side, least(CAST(floor((x - $low) / $width) AS INTEGER), {BINS - 1}) AS bin, "
        f"count(*) FROM ({sides}) WHERE x IS NOT NULL AND isfinite(x) GROUP BY ALL",
        {"low": low, "width": width},
    ).fetchall()
    counts = {"human": [0] * BINS, "synthetic": [0] * BINS}
    for side, index, count in rows:
        counts[side][int(index)] = int(count)
    return {
        "type": "numeric",
        "edges": [low + i * width for i in range(BINS + 1)],
        **{side: _shares(values) for side, values in counts.items()},
    }


def _categorical(
    con: duckdb.DuckDBPyConnection, comparison: Comparison, column: str
) -> dict[str, Any]:
    """Shares of the human side's most common categories (and the rest) on both sides."""
    c = quote_ident(column)
    value = f"coalesce(CAST({c} AS VARCHAR), '{MISSING_LABEL}')"
    rows = con.execute(
        f"SELECT 'human', {value}, count(*) FROM ({comparison.human_sql}) GROUP BY ALL UNION ALL "
        f"SELECT 'synthetic', {value}, count(*) FROM ({comparison.synthetic_sql}) GROUP BY ALL"
    ).fetchall()
    human = {str(v): int(n) for side, v, n in rows if side == "human"}
    synthetic = {str(v): int(n) for side, v, n in rows if side == "synthetic"}
    top = sorted(human, key=lambda k: -human[k])[:TOP_CATEGORIES]
    for name in sorted(synthetic, key=lambda k: -synthetic[k]):
        if name not in top and len(top) < TOP_CATEGORIES + 3:
            top.append(name)
    rest = "(other)"

    def counts(side: dict[str, int]) -> list[int]:
        return [side.get(k, 0) for k in top] + [sum(v for k, v in side.items() if k not in top)]

    return {
        "type": "categorical",
        "categories": [*top, rest],
        "human": _shares(counts(human)),
        "synthetic": _shares(counts(synthetic)),
    }


def _shares(counts: list[int]) -> list[float]:
    """Counts as shares of their total (rounded)."""
    total = sum(counts) or 1
    return [round(c / total, 5) for c in counts]


def distributions(
    con: duckdb.DuckDBPyConnection, spec: LoopSpec, comparison: Comparison, columns: list[str]
) -> dict[str, dict[str, Any]]:
    """Per column (numeric: 20 bins; categorical: top categories) the shares of both sides."""
    out = {}
    for column in columns:
        kind = spec.columns.get(column)
        if kind is ColumnType.numeric:
            out[column] = _numeric(con, comparison, column)
        elif kind in (ColumnType.categorical, ColumnType.boolean):
            out[column] = _categorical(con, comparison, column)
    return out
