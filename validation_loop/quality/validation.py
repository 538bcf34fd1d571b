"""Run the loop's GX suite on a stored batch, one column group at a time, and keep the results.

GX 1.x cannot execute on DuckDB through SQLAlchemy (results come back empty), so GX runs on its
pandas engine and DuckDB feeds it: the expectations are grouped by the columns they read, and
each group gets a DataFrame of just those columns, fetched from the warehouse and dropped before
the next group. Memory therefore holds at most the widest group of one batch, never the batch
twice. Table-level expectations (column set, row count) see a frame with every column name and
the batch's row count whose values are sparse zeros, so they cost no memory either.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import re
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import numpy as np
import pandas as pd
import pyarrow as pa
from great_expectations.data_context.types.base import ProgressBarsConfig

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


def _validate_frame(frame: pd.DataFrame, suite: gx.ExpectationSuite) -> Any:
    """Validate one frame in a fresh ephemeral GX context (no analytics, no progress bars).

    A context per frame means nothing GX caches outlives the frame.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("warehouse")
        .add_dataframe_asset("batch")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    return batch.validate(
        suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}
    )


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
    """A query's result as pandas, text columns as Arrow-backed `StringDtype` (which GX 1.x can
    name in a type list, unlike pandas 3's default string dtype)."""
    frame = con.execute(sql).fetchdf()
    for column in frame.columns:
        if pd.api.types.is_string_dtype(frame[column].dtype):
            frame[column] = frame[column].astype(pd.StringDtype("pyarrow"))
    return frame


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


def validate_relation(
    con: duckdb.DuckDBPyConnection, relation: str, entries: list[dict[str, Any]]
) -> tuple[list[ExpectationOutcome], list[Any]]:
    """Validate every entry on `relation` (SQL), a column group at a time.

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
    raw: dict[int, Any] = {}
    # Table-level expectations first: their placeholder frame is the largest single step.
    for group, positions in sorted(groups.items(), key=lambda item: bool(item[0])):
        if group:
            selected = ", ".join(quote_ident(c) for c in group)
            frame = _fetch(con, f"SELECT {selected} FROM ({relation})")
        else:
            frame = _placeholder(columns, rows)
        suite = gx.ExpectationSuite(
            name=f"group_{len(outcomes)}", expectations=[entries[p] for p in positions]
        )
        result = _validate_frame(frame, suite)
        large = int(frame.memory_usage(deep=False).sum()) > LARGE_FRAME_BYTES
        del frame
        if large:
            _release_memory()
        for position, item in zip(positions, result.results, strict=True):
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
    with Warehouse(home.warehouse_path).read() as con:
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
    warehouse = Warehouse(home.warehouse_path)
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
        con.executemany(
            "INSERT INTO expectation_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    spec.name,
                    batch_id,
                    validated_at,
                    o.position,
                    o.check_name,
                    o.expectation_type,
                    o.columns,
                    o.severity,
                    o.success,
                    json.dumps(o.observed_value),
                    o.unexpected_count,
                    o.unexpected_percent,
                    o.element_count,
                    json.dumps(o.unexpected_examples),
                    o.expected,
                ]
                for o in outcomes
            ],
        )
    page = publish(home.loop(spec.name), spec.name, entries, batch_id, results, validated_at)
    if batch.source == "human" and not any(
        o.severity == "error" and not o.success for o in outcomes
    ):
        refresh_suite(home, spec)
    return outcomes, page
