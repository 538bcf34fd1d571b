"""The two sides of a comparison in DuckDB: typed relations, column roles and bounded samples.

Both sides are views (temporary tables when no larger than a sample) over any SQL relation with
the spec's columns plus `_batch_id` and `_row` (as the warehouse stores them). Numeric and
datetime columns become DOUBLE (datetimes as epoch seconds), categorical and boolean columns
VARCHAR; id and free-text columns are left out.
Samples are chosen by a seeded hash of (`_batch_id`, `_row`): deterministic whatever the thread
count, and never larger than `sample_rows` (nor `sample_cells` values), so memory grows neither
with the synthetic side nor with the table's width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from validation_loop.gaps.significance import ks_test
from validation_loop.spec import ColumnType, LoopSpec, Task
from validation_loop.warehouse import quote_ident

DEFAULT_SAMPLE_ROWS = 200_000
_HASH_SPACE = 1_000_000


@dataclass(frozen=True)
class Columns:
    """Which columns the gap checks compare, by role."""

    numeric: list[str]
    categorical: list[str]
    label: str
    task: Task
    slices: list[str]
    sensitive: list[str]

    @property
    def compared(self) -> list[str]:
        """Every compared column, numeric first."""
        return [*self.numeric, *self.categorical]


def column_roles(spec: LoopSpec) -> Columns:
    """Split the spec's columns into numeric and categorical (id and text left out)."""
    numeric, categorical = [], []
    for column, kind in spec.columns.items():
        if column == spec.item_column or kind is ColumnType.text:
            continue
        if kind in (ColumnType.numeric, ColumnType.datetime):
            numeric.append(column)
        else:
            categorical.append(column)
    return Columns(numeric, categorical, spec.label, spec.task, spec.slices, spec.sensitive)


def _value_sql(column: str, kind: ColumnType) -> str:
    """A column as the gap checks see it: DOUBLE or VARCHAR."""
    col = quote_ident(column)
    if kind is ColumnType.datetime:
        return f"epoch(CAST({col} AS TIMESTAMP))"
    if kind is ColumnType.numeric:
        return f"CASE WHEN isfinite(CAST({col} AS DOUBLE)) THEN CAST({col} AS DOUBLE) END"
    return f"CAST({col} AS VARCHAR)"


@dataclass
class GapInputs:
    """A prepared comparison: connection, column roles, view names, sizes and samples."""

    con: duckdb.DuckDBPyConnection
    spec: LoopSpec
    columns: Columns
    human: str
    synthetic: str
    human_rows: int
    synthetic_rows: int
    human_sample: pd.DataFrame
    synthetic_sample: pd.DataFrame
    seed: int
    _sorted: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, init=False, repr=False)
    _ks: dict[str, tuple[float, float]] = field(default_factory=dict, init=False, repr=False)

    def sorted_values(self, side: Literal["human", "synthetic"], column: str) -> np.ndarray:
        """A numeric column's sample on one side, missing values dropped, sorted (sorted once
        per comparison: several checks read it, and sorted input makes their own sorts cheap)."""
        if (side, column) not in self._sorted:
            sample = self.human_sample if side == "human" else self.synthetic_sample
            values = sample[column].to_numpy(dtype=float)
            self._sorted[side, column] = np.sort(values[~np.isnan(values)])
        return self._sorted[side, column]

    def column_ks(self, column: str) -> tuple[float, float]:
        """KS statistic and p-value of a numeric column's samples (tested once per comparison)."""
        if column not in self._ks:
            self._ks[column] = ks_test(
                self.sorted_values("human", column), self.sorted_values("synthetic", column)
            )
        return self._ks[column]


def sample_size(spec: LoopSpec) -> int:
    """Rows per side a comparison samples: `sample_rows`, fewer on wide tables so that a sample
    holds at most `sample_cells` values (never below 1,000 rows)."""
    width = max(1, len(column_roles(spec).compared))
    return min(spec.sample_rows, max(1_000, spec.sample_cells // width))


def sample_sql(relation: str, rows: int, total: int, seed: int) -> str:
    """SQL selecting about `rows` rows of `relation` by a seeded hash, in hash order."""
    key = f"hash(_batch_id, _row, {int(seed)})"
    keep = math.ceil(_HASH_SPACE * rows / total) if total else 0
    where = "" if rows >= total else f"WHERE {key} % {_HASH_SPACE} < {keep}"
    return (
        f"SELECT * EXCLUDE (_batch_id, _row) FROM {relation} {where} ORDER BY {key} "
        f"LIMIT {int(rows)}"
    )


def _drop_temp(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the temporary view or table `name` of an earlier comparison on this connection."""
    found = con.execute(
        "SELECT 'VIEW' FROM duckdb_views() WHERE temporary AND view_name = $1 "
        "UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE temporary AND table_name = $1",
        [name],
    ).fetchall()
    for (kind,) in found:
        con.execute(f"DROP {kind} {name}")


def prepare(
    con: duckdb.DuckDBPyConnection,
    spec: LoopSpec,
    human_sql: str,
    synthetic_sql: str,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
) -> GapInputs:
    """Create the typed relations `gap_human` and `gap_synthetic` (temporary tables when no
    larger than a sample, else views) and fetch bounded samples."""
    columns = column_roles(spec)
    select = ", ".join(
        f"{_value_sql(c, spec.columns[c])} AS {quote_ident(c)}" for c in columns.compared
    )
    counts = {}
    for name, sql in (("gap_human", human_sql), ("gap_synthetic", synthetic_sql)):
        _drop_temp(con, name)
        row = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()
        counts[name] = int(row[0]) if row else 0
        # A side that fits in its sample is kept typed in a temporary table: the checks scan
        # it many times, and a view would recompute each typed column at every use (a large
        # side costs more to copy than the recomputing does).
        small = counts[name] <= sample_rows
        con.execute(
            f"CREATE TEMP {'TABLE' if small else 'VIEW'} {name} AS "
            f"SELECT {select}, _batch_id, _row FROM ({sql})"
        )
    samples = {
        name: con.execute(sample_sql(name, sample_rows, counts[name], spec.seed)).fetchdf()
        for name in counts
    }
    return GapInputs(
        con=con,
        spec=spec,
        columns=columns,
        human="gap_human",
        synthetic="gap_synthetic",
        human_rows=counts["gap_human"],
        synthetic_rows=counts["gap_synthetic"],
        human_sample=samples["gap_human"],
        synthetic_sample=samples["gap_synthetic"],
        seed=spec.seed,
    )
