"""Infer a loop spec from a first human batch (what `validation-loop init` writes)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from validation_loop.conform import cast_sql, is_numeric_type
from validation_loop.errors import SpecError
from validation_loop.readers import stage
from validation_loop.resources import duckdb_config
from validation_loop.spec import DEFAULT_NULL_VALUES, ColumnType, LoopSpec, Task, parse_spec
from validation_loop.warehouse import DISTINCT_AGGREGATES_PER_SCAN, aggregate, quote_ident

MAX_SLICE_LEVELS = 20
MAX_CATEGORIES = 100
TEXT_MIN_MEAN_LENGTH = 40
INFERENCE_ROWS = 100_000  # a proposal for a person to review: the file's first rows decide


PROFILE_KEYS = ("non_null", "numeric", "boolean", "datetime", "distinct", "mean_length")


def _profiles(
    con: duckdb.DuckDBPyConnection, columns: dict[str, str]
) -> dict[str, dict[str, float]]:
    """Per column (staging name -> staged type; see `StagedBatch.staged_name`), the counts that
    decide its type: non-null, parseable as each type, distinct, mean length. All columns'
    counts go to DuckDB together, a few hundred aggregates per scan (a wide file). A column
    stored as numbers is numeric whole, so its (costly, text-parsing) datetime count is not
    taken: `infer_column_type` never reads it."""
    parts = []
    for column, staged_type in columns.items():
        col = quote_ident(column)
        parts += [f"count({col})"]
        parts += [
            f"count({cast_sql(column, staged_type, t).parsed})"
            for t in (ColumnType.numeric, ColumnType.boolean)
        ]
        numbers = is_numeric_type(staged_type)
        parts += [
            "0"
            if numbers
            else f"count({cast_sql(column, staged_type, ColumnType.datetime).parsed})"
        ]
        parts += [
            f"count(DISTINCT {col})",
            f"coalesce(avg(length(CAST({col} AS VARCHAR))), 0)",
        ]
    values = iter(aggregate(con, "stage", parts, DISTINCT_AGGREGATES_PER_SCAN))
    return {column: {key: float(next(values)) for key in PROFILE_KEYS} for column in columns}


def infer_column_type(profile: dict[str, float], categorical_hint: bool) -> ColumnType:
    """A column's type from its profile; `categorical_hint` turns few-valued numbers categorical."""
    n = profile["non_null"]
    if n == 0:
        return ColumnType.categorical
    if profile["boolean"] == n and profile["numeric"] < n:
        return ColumnType.boolean
    if profile["numeric"] == n:
        if categorical_hint and profile["distinct"] <= MAX_SLICE_LEVELS:
            return ColumnType.categorical
        return ColumnType.numeric
    if profile["datetime"] == n:
        return ColumnType.datetime
    if profile["mean_length"] >= TEXT_MIN_MEAN_LENGTH or (
        profile["distinct"] > MAX_CATEGORIES and profile["distinct"] > 0.05 * n
    ):
        return ColumnType.text
    return ColumnType.categorical


def infer_spec(
    name: str,
    human_file: Path,
    label: str,
    task: Task | None = None,
    id_column: str | None = None,
    slices: list[str] | None = None,
    sensitive: list[str] | None = None,
    annotator_column: str | None = None,
) -> LoopSpec:
    """Read a human batch's first `INFERENCE_ROWS` rows and propose a spec; a human can then
    edit the YAML (a value later rows cannot cast is named when the batch is ingested)."""
    slices, sensitive = list(slices or []), list(sensitive or [])
    con = duckdb.connect(config=duckdb_config())
    try:
        staged = stage(con, human_file, DEFAULT_NULL_VALUES, limit=INFERENCE_ROWS)
        named = [label, *(c for c in (id_column, annotator_column) if c), *slices, *sensitive]
        unknown = [c for c in named if c not in staged.columns]
        if unknown:
            raise SpecError(
                str(human_file),
                [
                    f"column {c!r} is not in the file (it has: {', '.join(staged.columns)})"
                    for c in unknown
                ],
            )
        hinted = {label, *slices, *sensitive}
        profiled = [c for c in staged.columns if c != annotator_column]
        found = _profiles(con, {staged.staged_name(c): staged.columns[c] for c in profiled})
        profiles = {c: found[staged.staged_name(c)] for c in profiled}
    finally:
        con.close()
    columns = {c: infer_column_type(p, c in hinted) for c, p in profiles.items()}
    if task is None:
        numeric_label = infer_column_type(profiles[label], False) is ColumnType.numeric
        many = profiles[label]["distinct"] > MAX_SLICE_LEVELS
        task = Task.regression if numeric_label and many else Task.classification
    if task is Task.regression:
        columns[label] = ColumnType.numeric
    elif columns[label] is not ColumnType.boolean:
        columns[label] = ColumnType.categorical
    if id_column:
        columns[id_column] = ColumnType.text
    for column in (*slices, *sensitive):
        if columns[column] not in (ColumnType.categorical, ColumnType.boolean):
            raise SpecError(
                str(human_file),
                [
                    f"column {column!r} has {profiles[column]['distinct']:.0f} distinct "
                    f"{columns[column].value} values; a slice or sensitive attribute needs a "
                    f"categorical column (at most {MAX_SLICE_LEVELS} values): bin it first"
                ],
            )
    data = {
        "name": name,
        "task": task.value,
        "label": label,
        "id_column": id_column,
        "columns": {c: t.value for c, t in columns.items()},
        "slices": slices,
        "sensitive": sensitive,
        "annotations": {
            "format": "long" if annotator_column else "rows",
            "annotator_column": annotator_column,
        },
    }
    return parse_spec(data, str(human_file))
