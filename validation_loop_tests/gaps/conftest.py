"""Helpers for gap tests: load frames into DuckDB with lineage columns and run the library."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from validation_loop.gaps.compute import GapResult, compute_gaps
from validation_loop.spec import LoopSpec, parse_spec


def load(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> str:
    """Store a frame as a table with `_batch_id` and `_row`, as the warehouse does."""
    con.register(f"{name}_frame", frame)
    con.execute(
        f"CREATE OR REPLACE TABLE {name} AS SELECT *, '{name}' AS _batch_id, "
        f"row_number() OVER () AS _row FROM {name}_frame"
    )
    con.unregister(f"{name}_frame")
    return f"SELECT * FROM {name}"


def make_spec(frame: pd.DataFrame, label: str, **fields: Any) -> LoopSpec:
    """A spec whose column types follow the frame's dtypes (model checks off unless asked)."""
    columns = {}
    for column, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            columns[column] = "boolean"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            columns[column] = "datetime"
        elif pd.api.types.is_numeric_dtype(dtype) and not (
            column == label and fields.get("task", "classification") == "classification"
        ):
            columns[column] = "numeric"
        else:
            columns[column] = "categorical"
    return parse_spec(
        {
            "name": "t",
            "task": "classification",
            "label": label,
            "columns": columns,
            "models": {"enabled": False},
            **fields,
        },
        "test",
    )


def run_gaps(spec: LoopSpec, human: pd.DataFrame, synthetic: pd.DataFrame) -> GapResult:
    """Compare two frames with the gap library on a fresh in-memory DuckDB."""
    con = duckdb.connect()
    human_sql = load(con, "human", human)
    synthetic_sql = load(con, "synthetic", synthetic)
    return compute_gaps(con, spec, human_sql, synthetic_sql)
