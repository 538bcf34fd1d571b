"""Run the loop's GX suite on a stored batch, a few column groups at a time, and keep the results.

GX 1.x cannot execute on DuckDB through SQLAlchemy (results come back empty), so GX runs on its
pandas engine and DuckDB feeds it: the expectations are grouped by the columns they read, and
the groups are packed into runs of at most `CELLS_PER_RUN` values and `COLUMNS_PER_RUN` columns
(a group is never split). Each run gets a DataFrame of just its columns, fetched from the
warehouse through Arrow and dropped before the next run, so memory holds at most one run's
frame, never the batch twice.
Table-level expectations (column set, row count) see a frame with every column name and the
batch's row count whose values are sparse zeros, so they cost no memory either.

A run hands its frame straight to a GX pandas execution engine and validator: the fluent
datasource route would fingerprint every frame (hashing all its values, twice) and build a
context per run, which made validation of tall batches mostly hashing and of wide ones mostly
set-up. GX still evaluates every expectation and returns its own results, which Data Docs show.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import re
import sys
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import numpy as np
import pandas as pd
import pyarrow as pa
from great_expectations.core import ExpectationValidationResult
from great_expectations.data_context import AbstractDataContext
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.validator.validator import Validator

from validation_loop.home import Home
from validation_loop.ingest import find_batch
from validation_loop.quality.data_docs import publish
from validation_loop.quality.results import usable_batches
from validation_loop.quality.suite import (
    SUITE_FILE,
    entry_columns,
    human_profile,
    load_suite,
    regenerate_suite,
)
from validation_loop.spec import LoopSpec
from validation_loop.warehouse import Warehouse, quote_ident, quote_literal, table_exists

_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if sys.platform == "linux" else None
LARGE_FRAME_BYTES = 64 * 2**20  # below this, leftover memory is not worth a full collection
SEVERITIES = {"critical": "error", "warning": "warn", "info": "info"}
EXAMPLES = 5
# One GX run sees at most this many values (rows x columns; memory) and columns (GX filters the
# whole frame for each column expectation, so a wider frame makes every expectation slower),
# unless a single column group is larger.
CELLS_PER_RUN = 2_000_000
COLUMNS_PER_RUN = 50
RESULTS_SCHEMA = pa.schema(
    [
        ("loop", pa.string()),
        ("batch_id", pa.string()),
        ("validated_at", pa.timestamp("us", tz="UTC")),
        ("position", pa.int32()),
        ("check_name", pa.string()),
        ("expectation_type", pa.string()),
        ("columns", pa.list_(pa.string())),
        ("severity", pa.string()),
        ("success", pa.bool_()),
        ("observed_value", pa.string()),
        ("unexpected_count", pa.int64()),
        ("unexpected_percent", pa.float64()),
        ("element_count", pa.int64()),
        ("unexpected_examples", pa.string()),
        ("expected", pa.string()),
    ]
)


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result on one batch."""

    position: int
    check_name: str
    expectation_type: str
    columns: list[str]
    severity: str
    success: bool
    observed_value: Any
    unexpected_count: int | None
    unexpected_percent: float | None
    element_count: int | None
    unexpected_examples: list[Any]
    expected: str

    def to_dict(self) -> dict[str, Any]:
        """The outcome as JSON-ready data."""
        return asdict(self)


def check_names(entries: list[dict[str, Any]]) -> list[str]:
    """A unique Dagster-safe name per entry: `<type without expect_>__<columns>`."""
    names: list[str] = []
    for entry in entries:
        columns = "_".join(entry_columns(entry)) or "table"
        kind = str(entry.get("type", "unknown")).removeprefix("expect_")
        base = re.sub(r"[^A-Za-z0-9_]+", "_", f"{kind}__{columns}")
        name, suffix = base, 2
        while name in names:
            name, suffix = f"{base}_{suffix}", suffix + 1
        names.append(name)
    return names


@cache
def _context() -> AbstractDataContext:
    """The process's ephemeral GX context (no analytics, no progress bars), made once."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _config_key(config: ExpectationConfiguration) -> str:
    """What tells a configuration's result apart from the others' in one run."""
    return json.dumps(
        [config.type, config.kwargs, config.meta, str(config.severity)], sort_keys=True, default=str
    )


def _validate_frame(
    frame: pd.DataFrame, entries: list[dict[str, Any]]
) -> list[ExpectationValidationResult]:
    """Validate `entries` on one frame with GX's pandas engine; results in `entries` order.

    The engine is fresh per frame, so nothing GX caches (metrics, condition masks) outlives it.
    """
    engine = PandasExecutionEngine()
    engine.load_batch_data("warehouse-batch", frame)
    validator = Validator(execution_engine=engine, data_context=_context())
    suite = gx.ExpectationSuite(name="batch", expectations=entries)
    configs = validator.process_expectations_for_validation(suite.expectation_configurations)
    results = validator.graph_validate(
        configurations=configs,
        runtime_configuration={
            "result_format": {"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}
        },
    )
    # GX reorders (by column, failures first): put the results back in the entries' order.
    slots: dict[str, deque[int]] = {}
    for index, config in enumerate(suite.expectation_configurations):
        slots.setdefault(_config_key(config), deque()).append(index)
    ordered: list[ExpectationValidationResult | None] = [None] * len(entries)
    for result in results:
        assert result.expectation_config is not None
        ordered[slots[_config_key(result.expectation_config)].popleft()] = result
    assert all(r is not None for r in ordered)
    return [r for r in ordered if r is not None]


def _describe(entry: dict[str, Any]) -> str:
    """What the expectation asks for, as a short string (its arguments but the columns)."""
    parts = []
    for key, value in entry.get("kwargs", {}).items():
        if key in ("column", "column_list", "column_A", "column_B"):
            continue
        if isinstance(value, list) and len(value) > 8:
            value = [*value[:8], f"... ({len(value)} in all)"]
        parts.append(f"{key}={value}")
    return ", ".join(parts) or "-"


def _jsonable(value: Any) -> Any:
    """A GX result value as plain JSON data."""
    return json.loads(json.dumps(value, default=str))


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """A query's result as pandas, through Arrow, with the dtypes DuckDB's own `fetchdf` gives
    (booleans with nulls as `BooleanDtype`) except text: Arrow-backed `StringDtype`, which GX
    1.x can name in a type list (unlike pandas 3's default string dtype), kept without a copy."""
    table = con.execute(sql).to_arrow_table()
    columns: dict[str, pd.Series] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            columns[name] = pd.Series(column, dtype=pd.StringDtype("pyarrow"))
        elif pa.types.is_boolean(kind) and column.null_count:
            columns[name] = pd.Series(column, dtype=pd.BooleanDtype())
        else:
            columns[name] = column.to_pandas()
    del table
    return pd.DataFrame(columns)


def _release_memory() -> None:
    """Free a column group's memory before the next: GX leaves reference cycles around the
    frame, so collect them, then hand freed memory back (Arrow's pool, glibc's heap)."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _placeholder(columns: list[str], rows: int) -> pd.DataFrame:
    """A frame with the batch's columns and row count whose values take no memory."""
    zeros = pd.arrays.SparseArray(np.zeros(rows, dtype=np.int8), fill_value=0)
    return pd.DataFrame({c: zeros for c in columns})


def _runs(
    groups: dict[tuple[str, ...], list[int]], rows: int
) -> list[tuple[tuple[str, ...], list[int]]]:
    """Pack column groups into runs within `CELLS_PER_RUN` and `COLUMNS_PER_RUN`: (columns,
    positions).

    The table-level group (no columns) runs alone and first: its placeholder frame is the
    largest single step. Groups keep their suite order; a group never splits.
    """
    runs: list[tuple[tuple[str, ...], list[int]]] = []
    columns: dict[str, None] = {}
    positions: list[int] = []
    for group, members in sorted(groups.items(), key=lambda item: bool(item[0])):
        if not group:
            runs.append(((), members))
            continue
        width = len(columns.keys() | set(group))
        if positions and (width * rows > CELLS_PER_RUN or width > COLUMNS_PER_RUN):
            runs.append((tuple(columns), positions))
            columns, positions = {}, []
        columns.update(dict.fromkeys(group))
        positions.extend(members)
    if positions:
        runs.append((tuple(columns), positions))
    return runs


def validate_relation(
    con: duckdb.DuckDBPyConnection, relation: str, entries: list[dict[str, Any]]
) -> tuple[list[ExpectationOutcome], list[ExpectationValidationResult]]:
    """Validate every entry on `relation` (SQL), a run of column groups at a time.

    Returns the outcomes and GX's own results (for Data Docs), both in suite order.
    """
    columns = [str(r[0]) for r in con.execute(f"DESCRIBE SELECT * FROM ({relation})").fetchall()]
    count = con.execute(f"SELECT count(*) FROM ({relation})").fetchone()
    rows = int(count[0]) if count else 0
    groups: dict[tuple[str, ...], list[int]] = {}
    for position, entry in enumerate(entries):
        groups.setdefault(tuple(dict.fromkeys(entry_columns(entry))), []).append(position)
    names = check_names(entries)
    outcomes: dict[int, ExpectationOutcome] = {}
    raw: dict[int, ExpectationValidationResult] = {}
    for run_columns, positions in _runs(groups, rows):
        if run_columns:
            selected = ", ".join(quote_ident(c) for c in run_columns)
            frame = _fetch(con, f"SELECT {selected} FROM ({relation})")
        else:
            frame = _placeholder(columns, rows)
        results = _validate_frame(frame, [entries[p] for p in positions])
        large = int(frame.memory_usage(deep=False).sum()) > LARGE_FRAME_BYTES
        del frame
        if large:
            _release_memory()
        for position, item in zip(positions, results, strict=True):
            raw[position] = item
            details = item.result or {}
            error = (item.exception_info or {}).get("exception_message")
            entry = entries[position]
            outcomes[position] = ExpectationOutcome(
                position=position,
                check_name=names[position],
                expectation_type=entry["type"],
                columns=entry_columns(entry),
                severity=SEVERITIES.get(str(entry.get("severity", "critical")), "error"),
                success=bool(item.success),
                observed_value=_jsonable(details.get("observed_value", error)),
                unexpected_count=details.get("unexpected_count"),
                unexpected_percent=details.get("unexpected_percent"),
                element_count=details.get("element_count"),
                unexpected_examples=_jsonable(details.get("partial_unexpected_list", []))[
                    :EXAMPLES
                ],
                expected=_describe(entry),
            )
    order = range(len(entries))
    return [outcomes[p] for p in order], [raw[p] for p in order]


def ensure_suite(home: Home, spec: LoopSpec) -> None:
    """Write the suite from the human data (or the spec alone) if the loop has none yet."""
    path = home.loop(spec.name).root / SUITE_FILE
    if not path.exists():
        refresh_suite(home, spec)


def refresh_suite(home: Home, spec: LoopSpec) -> int:
    """Regenerate the suite from the usable human batches (all human rows before any batch was
    validated); edited entries stay. Returns its size."""
    schema = quote_ident(spec.name)
    with Warehouse(home.warehouse_path, resources=spec.resources).read() as con:
        profile: dict[str, dict[str, Any]] = {}
        if table_exists(con, spec.name, "human"):
            validated = con.execute(
                "SELECT count(*) FROM expectation_results WHERE loop = ?", [spec.name]
            ).fetchone()
            relation = f"{schema}.human"
            if validated and validated[0]:
                usable = ", ".join(quote_literal(b) for b in usable_batches(con, spec.name))
                relation = f"(SELECT * FROM {schema}.human WHERE _batch_id IN ({usable or 'NULL'}))"
            profile = human_profile(con, relation, spec)
    return regenerate_suite(home.loop(spec.name).root / SUITE_FILE, spec, profile)


def _store(
    con: duckdb.DuckDBPyConnection,
    loop: str,
    batch_id: str,
    validated_at: datetime,
    outcomes: list[ExpectationOutcome],
) -> None:
    """Append the outcomes to `expectation_results` in one insert (through Arrow: thousands of
    rows from a wide batch would take seconds row by row)."""
    table = pa.Table.from_pylist(
        [
            {
                "loop": loop,
                "batch_id": batch_id,
                "validated_at": validated_at,
                "position": o.position,
                "check_name": o.check_name,
                "expectation_type": o.expectation_type,
                "columns": o.columns,
                "severity": o.severity,
                "success": o.success,
                "observed_value": json.dumps(o.observed_value),
                "unexpected_count": o.unexpected_count,
                "unexpected_percent": o.unexpected_percent,
                "element_count": o.element_count,
                "unexpected_examples": json.dumps(o.unexpected_examples),
                "expected": o.expected,
            }
            for o in outcomes
        ],
        schema=RESULTS_SCHEMA,
    )
    con.from_arrow(table).insert_into("expectation_results")


def validate_batch(
    home: Home, spec: LoopSpec, batch_id: str
) -> tuple[list[ExpectationOutcome], Path]:
    """Validate a stored batch with the loop's suite, keep the results, publish Data Docs.

    Returns the outcomes and the batch's Data Docs page. A human batch that passes then
    refreshes the suite, so later batches are held to what it showed; a blocked one never
    widens it.
    """
    ensure_suite(home, spec)
    entries = load_suite(home.loop(spec.name).root / SUITE_FILE, spec)
    warehouse = Warehouse(home.warehouse_path, resources=spec.resources)
    with warehouse.read() as con:
        batch = find_batch(con, spec.name, batch_id)
        if batch is None:
            raise ValueError(f"batch {batch_id} is not in the warehouse")
        relation = (
            f"SELECT * EXCLUDE (_batch_id, _row) FROM {quote_ident(spec.name)}."
            f"{quote_ident(batch.source)} WHERE _batch_id = {quote_literal(batch_id)}"
        )
        outcomes, results = validate_relation(con, relation, entries)
    validated_at = datetime.now(UTC)
    with warehouse.write() as con:
        _store(con, spec.name, batch_id, validated_at, outcomes)
    page = publish(home.loop(spec.name), spec.name, entries, batch_id, results, validated_at)
    if batch.source == "human" and not any(
        o.severity == "error" and not o.success for o in outcomes
    ):
        refresh_suite(home, spec)
    return outcomes, page
