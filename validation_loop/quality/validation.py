"""Run the loop's GX suite on a stored batch, a few column groups at a time, and keep the results.

GX 1.x cannot execute on DuckDB through SQLAlchemy (results come back empty), so GX runs on its
pandas engine and DuckDB feeds it: the expectations are grouped by the columns they read, and
the groups are packed into runs of at most `CELLS_PER_RUN` values and `COLUMNS_PER_RUN` columns
(a group is never split). Each run gets a DataFrame of just its columns, streamed from the
warehouse through Arrow and dropped before the next run, so memory holds at most one run's
frame, never the batch twice. A run with more values than `CELLS_PER_RUN` (a tall batch) is
cut into frames of consecutive rows, so memory does not grow with the batch: the expectations
that judge each row on its own (`ROW_WISE`: not null, between, in set, regex, ...) run on every
frame and GX builds their result from the frames' counts and first unexpected values (its own
`_validate`, on the summed metrics: the same result as on the whole column); a type check runs
on the first frame (the frames share their dtypes); any other expectation (uniqueness, a
column's mean, ...) still sees its whole columns at once.
Table-level expectations (column set, row count) see a frame with every column name and the
batch's row count whose values are sparse zeros, so they cost no memory either.

A run hands its frame straight to a GX pandas execution engine and validator: the fluent
datasource route would fingerprint every frame (hashing all its values, twice) and build a
context per run, which made validation of tall batches mostly hashing and of wide ones mostly
set-up. GX still evaluates every expectation and returns its own results, which Data Docs show.
On a wide batch GX's cost is per expectation, not per value, so each run asks GX for the BASIC
result format first and for SUMMARY (unexpected rows and value counts) only where values were
unexpected, and builds each expectation's configuration once (see `_configurations_built_once`):
the results are the ones a single SUMMARY run gives (tested against GX's public route).

GX writes its file-backed project (suites, validation results, Data Docs pages, and
`great_expectations.yml`, rewritten on every publish) in place. So that a process killed
mid-write leaves no torn file for every later Data Docs build to trip on, the project is
created whole (in a temporary folder, renamed into place) and GX's writing modules write
through `atomic.gx_open` (a temporary file renamed into place).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import re
import shutil
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
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
from great_expectations.data_context.data_context import file_data_context
from great_expectations.data_context.store import inline_store_backend, tuple_store_backend
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.validator.validator import Validator

from validation_loop.atomic import gx_open, temp_path
from validation_loop.home import Home, LoopLayout
from validation_loop.ingest import archived, find_batch
from validation_loop.quality.data_docs import publish, validation_page
from validation_loop.quality.results import usable_batches
from validation_loop.quality.suite import (
    SUITE_FILE,
    entry_columns,
    human_profile,
    load_suite,
    regenerate_suite,
)
from validation_loop.spec import LoopSpec
from validation_loop.warehouse import (
    Warehouse,
    fetch_dicts,
    quote_ident,
    quote_literal,
    table_exists,
)

_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if sys.platform == "linux" else None
LARGE_FRAME_BYTES = 64 * 2**20  # frames' bytes between two full collections (see `_Reclaim`)
SEVERITIES = {"critical": "error", "warning": "warn", "info": "info"}
EXAMPLES = 5
# One GX run sees at most this many values (rows x columns; memory) and columns (GX filters the
# whole frame for each column expectation, so a wider frame makes every expectation slower),
# unless a single column group is larger.
CELLS_PER_RUN = 2_000_000
COLUMNS_PER_RUN = 50
ROW_WISE = frozenset(
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
        "expect_column_values_to_match_regex_list",
        "expect_column_values_to_not_match_regex_list",
        "expect_column_value_lengths_to_be_between",
        "expect_column_value_lengths_to_equal",
    }
)  # column map expectations whose verdict on a row depends on that row alone
DTYPE_ONLY = frozenset(
    {"expect_column_values_to_be_in_type_list", "expect_column_values_to_be_of_type"}
)
RUNTIME = {"result_format": {"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}}
BASIC = {"result_format": {"result_format": "BASIC", "partial_unexpected_count": EXAMPLES}}
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


@cache
def atomic_gx_files() -> None:
    """Make GX's modules that write project files write each one atomically (module doc)."""
    for module in (tuple_store_backend, inline_store_backend, file_data_context):
        setattr(module, "open", gx_open)  # noqa: B010 (a module global that shadows the built-in)


def scaffold_gx_project(layout: LoopLayout) -> None:
    """Create the loop's GX project (`gx/`) whole, if it has none: GX writes it file by file,
    so it is made in a temporary folder and renamed into place."""
    project = layout.root / "gx"
    if project.exists():
        return
    staging = temp_path(project)
    try:
        gx.get_context(mode="file", project_root_dir=staging)
        os.rename(staging / "gx", project)
    except OSError:
        if not project.is_dir():  # not another process's project, made meanwhile
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _config_key(config: ExpectationConfiguration) -> str:
    """What tells a configuration's result apart from the others' in one run."""
    return json.dumps(
        [config.type, config.kwargs, config.meta, str(config.severity)], sort_keys=True, default=str
    )


def _validate_frame(
    frame: pd.DataFrame, entries: list[dict[str, Any]]
) -> list[ExpectationValidationResult]:
    """Validate `entries` on one frame with GX's pandas engine; results in `entries` order, in
    GX's SUMMARY format.

    GX resolves SUMMARY's extra metrics (unexpected rows and value counts) for every column
    map expectation, which doubles its cost per expectation on a wide batch; they are empty
    wherever nothing is unexpected. So every entry runs in BASIC format first, and only those
    with unexpected values run again in SUMMARY; the others get SUMMARY's two empty lists.
    """
    results = _graph_validate(frame, entries, BASIC)
    again = [i for i, r in enumerate(results) if r.result.get("unexpected_count", 0) != 0]
    if again:
        redone = _graph_validate(frame, [entries[i] for i in again], RUNTIME)
        for index, result in zip(again, redone, strict=True):
            results[index] = result
    for result in results:
        found = result.result
        if found.get("unexpected_count") == 0 and "partial_unexpected_list" in found:
            found |= {"partial_unexpected_counts": [], "partial_unexpected_index_list": []}
    return results


@contextmanager
def _configurations_built_once() -> Iterator[None]:
    """While GX validates, build each expectation object's `configuration` once.

    GX 1.x rebuilds it (a pydantic dump and a new `ExpectationConfiguration`) on every read and
    reads it dozens of times per expectation while planning and judging metrics: a third of
    the validation time of a wide batch (1,000 columns, 3,000 expectations: 19 s -> 11 s). The
    expectation objects do not change during `graph_validate` (GX renders results only after
    it), and GX copies a configuration before changing it. The property is restored on exit;
    a GX whose `configuration` is no longer a property runs unchanged.
    """
    original = Expectation.__dict__.get("configuration")
    if not isinstance(original, property) or original.fget is None:
        yield
        return
    build = original.fget
    built: dict[int, tuple[Expectation, ExpectationConfiguration]] = {}

    def configuration(expectation: Expectation) -> ExpectationConfiguration:
        found = built.get(id(expectation))
        if found is None or found[0] is not expectation:
            found = built[id(expectation)] = (expectation, build(expectation))
        return found[1]

    Expectation.configuration = property(configuration)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Expectation.configuration = original  # type: ignore[method-assign]


def _graph_validate(
    frame: pd.DataFrame, entries: list[dict[str, Any]], runtime: dict[str, Any]
) -> list[ExpectationValidationResult]:
    """GX's results for `entries` on `frame` in result format `runtime`, in `entries` order.

    The engine is fresh per call, so nothing GX caches (metrics, condition masks) outlives it.
    """
    engine = PandasExecutionEngine()
    engine.load_batch_data("warehouse-batch", frame)
    validator = Validator(execution_engine=engine, data_context=_context())
    suite = gx.ExpectationSuite(name="batch", expectations=entries)
    configs = validator.process_expectations_for_validation(suite.expectation_configurations)
    with _configurations_built_once():
        results = validator.graph_validate(configurations=configs, runtime_configuration=runtime)
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


def _frames(
    con: duckdb.DuckDBPyConnection, relation: str, columns: tuple[str, ...], rows: int
) -> Iterator[pd.DataFrame]:
    """The relation's `columns` as pandas frames of `rows` consecutive rows (in the stored
    order; at least one frame), streamed through Arrow, with the dtypes DuckDB's own `fetchdf`
    gives (booleans with nulls anywhere in the column as `BooleanDtype`, in every frame) except
    text: Arrow-backed `StringDtype`, which GX 1.x can name in a type list (unlike pandas 3's
    default string dtype), kept without a copy."""
    nulls = ", ".join(f"bool_or({quote_ident(c)} IS NULL)" for c in columns)
    found = con.execute(f"SELECT {nulls} FROM ({relation})").fetchone() or ()
    nullable = {c for c, has in zip(columns, found, strict=True) if has}
    selected = ", ".join(quote_ident(c) for c in columns)
    query = con.sql(f"SELECT {selected} FROM ({relation})")  # streams; `execute` would not
    reader = query.to_arrow_reader(min(rows, 1 << 20))
    pending: list[pa.RecordBatch] = []
    held, sent = 0, False
    for batch in reader:
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield _pandas(table.slice(0, rows), nullable)
            rest = table.slice(rows)
            pending, held, sent = rest.to_batches(), rest.num_rows, True
            del table, rest
    if held or not sent:
        yield _pandas(pa.Table.from_batches(pending, schema=reader.schema), nullable)


def _pandas(table: pa.Table, nullable: set[str]) -> pd.DataFrame:
    """An Arrow table as pandas, with the dtypes of `_frames`."""
    columns: dict[str, pd.Series] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            columns[name] = pd.Series(column, dtype=pd.StringDtype("pyarrow"))
        elif pa.types.is_boolean(kind) and name in nullable:
            columns[name] = pd.Series(column, dtype=pd.BooleanDtype())
        else:
            columns[name] = column.to_pandas()
    return pd.DataFrame(columns)


def _combine(parts: list[tuple[int, ExpectationValidationResult]]) -> ExpectationValidationResult:
    """One row-wise expectation's result on the whole relation from its results on frames
    (each with its first row): GX's own `_validate` on the frames' summed counts and first
    unexpected values and rows, as it would on the whole column."""
    if len(parts) == 1:
        return parts[0][1]
    for _, result in parts:
        if (result.exception_info or {}).get("raised_exception"):
            return result
    first = parts[0][1]
    assert first.expectation_config is not None
    expectation = first.expectation_config.to_domain_obj()
    metric = expectation.map_metric
    results = [(start, result.result) for start, result in parts]
    metrics = {
        "table.row_count": sum(r["element_count"] for _, r in results),
        "column_values.nonnull.unexpected_count": sum(
            r.get("missing_count", 0) for _, r in results
        ),
        f"{metric}.unexpected_count": sum(r["unexpected_count"] for _, r in results),
        f"{metric}.unexpected_values": [
            value for _, r in results for value in r.get("partial_unexpected_list", [])
        ][:EXAMPLES],
        f"{metric}.unexpected_index_list": [
            start + index
            for start, r in results
            for index in r.get("partial_unexpected_index_list", [])
        ][:EXAMPLES],
    }
    verdict = expectation._validate(metrics=metrics, runtime_configuration=RUNTIME)
    return ExpectationValidationResult(
        success=verdict["success"],
        expectation_config=first.expectation_config,
        result=verdict["result"],
        exception_info=first.exception_info,
    )


class _Reclaim:
    """Frees the memory of the frames GX is done with, once they add up to
    `LARGE_FRAME_BYTES`: GX leaves reference cycles around each frame, which Python's
    collector (counting objects, not bytes) would otherwise let pile up over many frames."""

    def __init__(self) -> None:
        self.held = 0

    def done_with(self, frame: pd.DataFrame) -> None:
        """Count a frame dropped; collect once enough bytes are waiting."""
        self.held += int(frame.memory_usage(deep=False).sum())
        if self.held > LARGE_FRAME_BYTES:
            _release_memory()
            self.held = 0


def _on_frames(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    columns: tuple[str, ...],
    rows: int,
    entries: list[dict[str, Any]],
    positions: list[int],
    reclaim: _Reclaim,
) -> dict[int, ExpectationValidationResult]:
    """Validate the entries at `positions` on frames of `rows` rows of `columns`: a type check
    on the first frame only, the others on every frame, their results combined."""
    parts: dict[int, list[tuple[int, ExpectationValidationResult]]] = {p: [] for p in positions}
    start = 0
    for frame in _frames(con, relation, columns, rows):
        todo = [p for p in positions if not start or entries[p]["type"] not in DTYPE_ONLY]
        results = _validate_frame(frame, [entries[p] for p in todo])
        for position, result in zip(todo, results, strict=True):
            parts[position].append((start, result))
        start += len(frame)
        reclaim.done_with(frame)
        del frame, results
    return {position: _combine(found) for position, found in parts.items()}


def _validate_run(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    columns: tuple[str, ...],
    rows: int,
    entries: list[dict[str, Any]],
    positions: list[int],
    cells: int,
    reclaim: _Reclaim,
) -> dict[int, ExpectationValidationResult]:
    """One run's results by position: on one frame when its values fit in `cells`; else the
    row-wise and type entries on frames of at most `cells` values, the rest on one frame of
    just the columns they read."""
    frame_rows = max(1, cells // len(columns))
    if rows <= frame_rows:
        return _on_frames(con, relation, columns, max(rows, 1), entries, positions, reclaim)
    framed = [p for p in positions if entries[p]["type"] in ROW_WISE | DTYPE_ONLY]
    whole = [p for p in positions if p not in framed]
    results = {}
    if framed:
        results = _on_frames(con, relation, columns, frame_rows, entries, framed, reclaim)
    if whole:
        read = tuple(dict.fromkeys(c for p in whole for c in entry_columns(entries[p])))
        results |= _on_frames(con, relation, read, rows, entries, whole, reclaim)
    return results


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
    con: duckdb.DuckDBPyConnection,
    relation: str,
    entries: list[dict[str, Any]],
    cells: int | None = None,
) -> tuple[list[ExpectationOutcome], list[ExpectationValidationResult]]:
    """Validate every entry on `relation` (SQL), a run of column groups at a time, each frame
    holding at most `cells` values (default `CELLS_PER_RUN`) where the expectations allow
    (module doc).

    Returns the outcomes and GX's own results (for Data Docs), both in suite order.
    """
    columns = [str(r[0]) for r in con.execute(f"DESCRIBE SELECT * FROM ({relation})").fetchall()]
    count = con.execute(f"SELECT count(*) FROM ({relation})").fetchone()
    rows = int(count[0]) if count else 0
    groups: dict[tuple[str, ...], list[int]] = {}
    for position, entry in enumerate(entries):
        groups.setdefault(tuple(dict.fromkeys(entry_columns(entry))), []).append(position)
    raw: dict[int, ExpectationValidationResult] = {}
    reclaim = _Reclaim()
    for run_columns, positions in _runs(groups, rows):
        if run_columns:
            budget = cells or CELLS_PER_RUN
            raw |= _validate_run(
                con, relation, run_columns, rows, entries, positions, budget, reclaim
            )
        else:
            frame = _placeholder(columns, rows)
            results = _validate_frame(frame, [entries[p] for p in positions])
            raw |= dict(zip(positions, results, strict=True))
            del frame
    names = check_names(entries)
    order = range(len(entries))
    return [_outcome(p, entries[p], names[p], raw[p]) for p in order], [raw[p] for p in order]


def _outcome(
    position: int, entry: dict[str, Any], name: str, result: ExpectationValidationResult
) -> ExpectationOutcome:
    """What `expectation_results` keeps of one GX result."""
    details = result.result or {}
    error = (result.exception_info or {}).get("exception_message")
    return ExpectationOutcome(
        position=position,
        check_name=name,
        expectation_type=entry["type"],
        columns=entry_columns(entry),
        severity=SEVERITIES.get(str(entry.get("severity", "critical")), "error"),
        success=bool(result.success),
        observed_value=_jsonable(details.get("observed_value", error)),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=details.get("unexpected_percent"),
        element_count=details.get("element_count"),
        unexpected_examples=_jsonable(details.get("partial_unexpected_list", []))[:EXAMPLES],
        expected=_describe(entry),
    )


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


def stored_outcomes(
    con: duckdb.DuckDBPyConnection, loop: str, batch_id: str
) -> list[ExpectationOutcome]:
    """The outcomes of a batch's latest validation kept in `expectation_results` (none if it
    was never validated)."""
    rows = fetch_dicts(
        con,
        "SELECT * EXCLUDE (loop, batch_id, validated_at) FROM expectation_results "
        "WHERE loop = $loop AND batch_id = $batch AND validated_at = (SELECT max(validated_at) "
        "FROM expectation_results WHERE loop = $loop AND batch_id = $batch) ORDER BY position",
        {"loop": loop, "batch": batch_id},
    )
    return [
        ExpectationOutcome(
            **{
                **row,
                "observed_value": json.loads(row["observed_value"]),
                "unexpected_examples": json.loads(row["unexpected_examples"]),
            }
        )
        for row in rows
    ]


def validate_batch(
    home: Home, spec: LoopSpec, batch_id: str
) -> tuple[list[ExpectationOutcome], Path]:
    """Validate a stored batch with the loop's suite, publish Data Docs, keep the results.

    Returns the outcomes and the batch's Data Docs page. A human batch that passes then
    refreshes the suite, so later batches are held to what it showed; a blocked one never
    widens it. Keeping the results is the commit point: an ingest cut short after it (its
    file not archived yet) is finished with the kept outcomes, not validated again against
    a suite that may already hold what this batch showed.
    """
    ensure_suite(home, spec)
    entries = load_suite(home.loop(spec.name).root / SUITE_FILE, spec)
    layout = home.loop(spec.name)
    warehouse = Warehouse(home.warehouse_path, resources=spec.resources)
    with warehouse.read() as con:
        batch = find_batch(con, spec.name, batch_id)
        if batch is None:
            raise ValueError(f"batch {batch_id} is not in the warehouse")
        kept = [] if archived(home, batch) else stored_outcomes(con, spec.name, batch_id)
        if not kept:
            relation = (
                f"SELECT * EXCLUDE (_batch_id, _row) FROM {quote_ident(spec.name)}."
                f"{quote_ident(batch.source)} WHERE _batch_id = {quote_literal(batch_id)}"
            )
            outcomes, results = validate_relation(con, relation, entries)
    if kept:
        outcomes, page = kept, validation_page(layout, batch_id)
    else:
        validated_at = datetime.now(UTC)
        atomic_gx_files()
        scaffold_gx_project(layout)
        page = publish(layout, spec.name, entries, batch_id, results, validated_at)
        with warehouse.write() as con:
            _store(con, spec.name, batch_id, validated_at, outcomes)
    if batch.source == "human" and not any(
        o.severity == "error" and not o.success for o in outcomes
    ):
        refresh_suite(home, spec)
    return outcomes, page
