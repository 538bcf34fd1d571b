"""Compare a loop's current sides and keep every comparison's records in the warehouse."""

from __future__ import annotations

import json
import math
import uuid
from contextlib import ExitStack
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import duckdb

from validation_loop.errors import NothingToCompare
from validation_loop.gaps.compute import GapResult, compute_gaps
from validation_loop.gaps.records import GapRecord
from validation_loop.gaps.selection import Comparison, current_comparison
from validation_loop.home import Home
from validation_loop.spec import LoopSpec
from validation_loop.warehouse import Warehouse, fetch_dicts, insert_rows


def _number(value: float | None) -> float | None:
    """NaN and infinities stored as NULL."""
    return None if value is None or not math.isfinite(value) else float(value)


RECORD_FIELDS = tuple(field.name for field in fields(GapRecord))


def stored_record(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row (of gap_records or report_records) in the gap library's record shape."""
    record = {k: row[k] for k in RECORD_FIELDS}
    record["slice"] = json.loads(row["slice"]) if isinstance(row["slice"], str) else row["slice"]
    record["columns"] = list(record["columns"])
    return record


def record_values(record: dict[str, Any]) -> list[Any]:
    """A record's fields in the column order of `RECORD_COLUMNS` (slice as JSON)."""
    return [
        record["kind"],
        record["metric"],
        list(record["columns"]),
        None if record["slice"] is None else json.dumps(record["slice"]),
        _number(record["value"]),
        _number(record["threshold"]),
        _number(record["p_value"]),
        _number(record["q_value"]),
        record["severity"],
        record["message"],
    ]


def store_gaps(
    con: duckdb.DuckDBPyConnection, loop: str, comparison: Comparison, result: GapResult
) -> str:
    """Append one comparison's records to `gap_records`; returns its comparison id."""
    comparison_id = uuid.uuid4().hex[:16]
    computed_at = datetime.now(UTC)
    rows = [
        [
            loop,
            comparison_id,
            computed_at,
            comparison.generator_version,
            comparison.human_batches,
            comparison.synthetic_batches,
            *record_values(r.to_dict()),
        ]
        for r in result.records
    ]
    insert_rows(con, "gap_records", rows)
    return comparison_id


def latest_gaps(con: duckdb.DuckDBPyConnection, loop: str) -> list[dict[str, Any]]:
    """The records of the loop's most recent comparison in the order `compute_gaps` ranked them:
    worst severity first, then by kind (model-measured damage first), utility slices by damage."""
    return fetch_dicts(
        con,
        "SELECT * FROM gap_records WHERE loop = $loop AND comparison_id = ("
        "  SELECT comparison_id FROM gap_records WHERE loop = $loop "
        "  ORDER BY computed_at DESC LIMIT 1) "
        "ORDER BY rowid",
        {"loop": loop},
    )


def compare_loop(home: Home, spec: LoopSpec) -> tuple[Comparison, GapResult, str] | None:
    """Compare the loop's current sides, keep the records; None when a side has no batch yet."""
    warehouse = Warehouse(home.warehouse_path, resources=spec.resources)
    with ExitStack() as lock:
        con = lock.enter_context(warehouse.read())
        comparison = current_comparison(con, spec)
        if comparison is None:
            return None
        try:
            result = compute_gaps(
                con, spec, comparison.human_sql, comparison.synthetic_sql, release=lock.close
            )
        except NothingToCompare:
            return None
    with warehouse.write() as con:
        comparison_id = store_gaps(con, spec.name, comparison, result)
    return comparison, result, comparison_id
