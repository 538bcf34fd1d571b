"""The DuckDB warehouse: one writer at a time across processes, shared read-only readers.

DuckDB lets one process open a database file for writing, and no other process open it at all
meanwhile. Every Dagster run is its own process, and a sensor run may overlap a manual one, so
every connection here first takes an OS file lock beside the database (`warehouse.duckdb.lock`):
exclusive for writers, shared for readers. Waiters poll with backoff up to a timeout, saying
once on stderr that they wait. A lock held by a process outside this package (a DuckDB shell,
say) shows up as DuckDB's own lock error, which is retried the same way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import pyarrow as pa

from validation_loop.errors import LockTimeoutError
from validation_loop.locks import announce_wait, file_lock
from validation_loop.resources import duckdb_config

if TYPE_CHECKING:
    from validation_loop.spec import ResourceSpec

T = TypeVar("T")
DEFAULT_LOCK_TIMEOUT = 600.0
LOCK_TIMEOUT_ENV = "VALIDATION_LOOP_LOCK_TIMEOUT"
AGGREGATES_PER_SCAN = 400
DISTINCT_AGGREGATES_PER_SCAN = 64  # each DISTINCT aggregate holds its own hash table

RECORD_COLUMNS = """\
    kind VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    columns VARCHAR[] NOT NULL,
    slice JSON,
    value DOUBLE,
    threshold DOUBLE,
    p_value DOUBLE,
    q_value DOUBLE,
    severity VARCHAR NOT NULL,
    message VARCHAR NOT NULL
"""  # the record fields of gap_records and report_records (docs/metrics.md)
# Per batch, the values ingest changed on the way in (conform.ValueChange); the ALTER in
# BASE_SCHEMA adds the column to a warehouse written before it existed.
VALUE_CHANGES = 'STRUCT("column" VARCHAR, kind VARCHAR, count BIGINT, first_row BIGINT)[]'

BASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS {db}.main.batches (
    loop VARCHAR NOT NULL,
    batch_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    row_count BIGINT NOT NULL,
    judgement_count BIGINT,
    annotation_format VARCHAR NOT NULL,
    generator_version VARCHAR,
    warnings VARCHAR[] NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    value_changes {value_changes} DEFAULT [],
    PRIMARY KEY (loop, batch_id)
);
ALTER TABLE {db}.main.batches ADD COLUMN IF NOT EXISTS value_changes {value_changes} DEFAULT [];
CREATE TABLE IF NOT EXISTS {db}.main.rejections (
    loop VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    column_name VARCHAR,
    row_number BIGINT,
    line_number BIGINT,
    quarantined_as VARCHAR NOT NULL,
    rejected_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (loop, source, sha256)
);
CREATE TABLE IF NOT EXISTS {db}.main.expectation_results (
    loop VARCHAR NOT NULL,
    batch_id VARCHAR NOT NULL,
    validated_at TIMESTAMPTZ NOT NULL,
    position INTEGER NOT NULL,
    check_name VARCHAR NOT NULL,
    expectation_type VARCHAR NOT NULL,
    columns VARCHAR[] NOT NULL,
    severity VARCHAR NOT NULL,
    success BOOLEAN NOT NULL,
    observed_value JSON,
    unexpected_count BIGINT,
    unexpected_percent DOUBLE,
    element_count BIGINT,
    unexpected_examples JSON,
    expected VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS {db}.main.label_quality (
    loop VARCHAR NOT NULL,
    computed_at TIMESTAMPTZ NOT NULL,
    summary JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS {db}.main.gap_records (
    loop VARCHAR NOT NULL,
    comparison_id VARCHAR NOT NULL,
    computed_at TIMESTAMPTZ NOT NULL,
    generator_version VARCHAR,
    human_batches VARCHAR[] NOT NULL,
    synthetic_batches VARCHAR[] NOT NULL,
{record_columns});
CREATE TABLE IF NOT EXISTS {db}.main.gap_reports (
    loop VARCHAR NOT NULL,
    report_id VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    generator_version VARCHAR,
    comparison_id VARCHAR,
    human_batches VARCHAR[] NOT NULL,
    synthetic_batches VARCHAR[] NOT NULL,
    human_rows BIGINT NOT NULL,
    synthetic_rows BIGINT NOT NULL,
    score DOUBLE,
    errors INTEGER NOT NULL,
    warnings INTEGER NOT NULL,
    document JSON NOT NULL,
    PRIMARY KEY (loop, report_id)
);
CREATE TABLE IF NOT EXISTS {db}.main.alert_state (
    loop VARCHAR NOT NULL,
    gap_key VARCHAR NOT NULL,
    record JSON NOT NULL,
    severity VARCHAR NOT NULL,
    max_severity VARCHAR NOT NULL,
    opened_at TIMESTAMPTZ NOT NULL,
    last_notified_at TIMESTAMPTZ NOT NULL,
    closed_at TIMESTAMPTZ,
    PRIMARY KEY (loop, gap_key)
);
CREATE TABLE IF NOT EXISTS {db}.main.alert_deliveries (
    loop VARCHAR NOT NULL,
    delivery_id VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    event VARCHAR NOT NULL,
    route VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    alert JSON NOT NULL,
    status VARCHAR NOT NULL,
    attempts INTEGER NOT NULL,
    last_error VARCHAR,
    next_attempt_at TIMESTAMPTZ,
    sent_at TIMESTAMPTZ,
    lease VARCHAR,
    PRIMARY KEY (loop, delivery_id)
);
CREATE TABLE IF NOT EXISTS {db}.main.report_records (
    loop VARCHAR NOT NULL,
    report_id VARCHAR NOT NULL,
    generator_version VARCHAR,
    human_batches VARCHAR[] NOT NULL,
    synthetic_batches VARCHAR[] NOT NULL,
{record_columns});
"""


def quote_ident(name: str) -> str:
    """Quote an identifier from a user's file for DuckDB SQL."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote a string literal where DuckDB takes no parameter (ATTACH)."""
    return "'" + text.replace("'", "''") + "'"


def _retry(action: Callable[[], T], deadline: float, what: str) -> T:
    """Run `action`, retrying DuckDB lock conflicts with backoff until `deadline`."""
    delay = 0.05
    waiting = False
    while True:
        try:
            return action()
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() > deadline:
                raise LockTimeoutError(f"{what}: {exc}") from exc
            if not waiting:
                announce_wait(what, deadline)
                waiting = True
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


_SCHEMA_READY: set[Path] = set()  # warehouses whose base tables this process has ensured


class Warehouse:
    """The warehouse file and the lock discipline every connection to it follows.

    Locks are per open file, so one process must not nest these context managers.
    """

    def __init__(
        self,
        path: Path,
        lock_timeout: float | None = None,
        resources: ResourceSpec | None = None,
    ) -> None:
        self.path = path
        self.config = duckdb_config(resources)
        env_timeout = os.environ.get(LOCK_TIMEOUT_ENV)
        self.lock_timeout = (
            lock_timeout
            if lock_timeout is not None
            else float(env_timeout)
            if env_timeout
            else DEFAULT_LOCK_TIMEOUT
        )

    @property
    def lock_path(self) -> Path:
        """The file whose OS lock guards the warehouse."""
        return self.path.with_name(self.path.name + ".lock")

    def _locked(self, exclusive: bool) -> AbstractContextManager[float]:
        """Hold the warehouse lock; yields the deadline for the work under it."""
        hint = f" (set {LOCK_TIMEOUT_ENV} to wait longer)"
        return file_lock(self.lock_path, exclusive, self.lock_timeout, str(self.path), hint)

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection, alone across processes; the base tables exist."""
        with self._locked(exclusive=True) as deadline:
            con = _retry(
                lambda: duckdb.connect(str(self.path), config=self.config),
                deadline,
                str(self.path),
            )
            try:
                con.execute(
                    BASE_SCHEMA.format(
                        db=quote_ident(_catalog(con)),
                        record_columns=RECORD_COLUMNS,
                        value_changes=VALUE_CHANGES,
                    )
                )
                _SCHEMA_READY.add(self.path)
                yield con
            finally:
                con.close()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection; other readers may share the file, writers wait.

        The first read of a process makes sure the base tables exist (a warehouse written by an
        older version gains the new ones).
        """
        if not self.path.exists() or self.path not in _SCHEMA_READY:
            with self.write():
                pass
        with self._locked(exclusive=False) as deadline:
            con = _retry(
                lambda: duckdb.connect(str(self.path), read_only=True, config=self.config),
                deadline,
                str(self.path),
            )
            try:
                yield con
            finally:
                con.close()

    @contextmanager
    def attached(self, con: duckdb.DuckDBPyConnection, alias: str = "wh") -> Iterator[str]:
        """Attach the warehouse for writing to another (staging) connection; yields the alias."""
        with self._locked(exclusive=True) as deadline:
            _retry(
                lambda: con.execute(
                    f"ATTACH {quote_literal(str(self.path))} AS {quote_ident(alias)}"
                ),
                deadline,
                str(self.path),
            )
            try:
                con.execute(
                    BASE_SCHEMA.format(
                        db=quote_ident(alias),
                        record_columns=RECORD_COLUMNS,
                        value_changes=VALUE_CHANGES,
                    )
                )
                yield alias
            finally:
                con.execute(f"DETACH {quote_ident(alias)}")


def _catalog(con: duckdb.DuckDBPyConnection) -> str:
    """The name of the connection's default database."""
    row = con.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])


def fetch_dicts(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Run a query and return its rows as dicts keyed by column name."""
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def aggregate(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    expressions: Sequence[str],
    per_scan: int = AGGREGATES_PER_SCAN,
) -> list[Any]:
    """The values of aggregate `expressions` over `relation`, `per_scan` per SELECT.

    One SELECT with thousands of aggregates (a wide table) is slow to plan and can take
    gigabytes; DuckDB reads only the columns a SELECT names, so a few narrower scans cost less.
    DISTINCT aggregates each hold a hash table of their own: pass
    `DISTINCT_AGGREGATES_PER_SCAN` for them.
    """
    values: list[Any] = []
    for start in range(0, len(expressions), per_scan):
        chunk = expressions[start : start + per_scan]
        row = con.execute(f"SELECT {', '.join(chunk)} FROM {relation}").fetchone()
        assert row is not None
        values += row
    return values


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[list[Any]]) -> None:
    """Append rows (values in the table's column order) in one INSERT through Arrow: far
    faster than a prepared INSERT per row when a wide table gives thousands of records."""
    if not rows:
        return
    columns = {f"c{i}": pa.array(list(values)) for i, values in enumerate(zip(*rows, strict=True))}
    con.register("_insert_rows", pa.table(columns))
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM _insert_rows")
    finally:
        con.unregister("_insert_rows")


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """Whether `schema.name` exists (a loop's tables appear with its first batch)."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])


def list_batches(con: duckdb.DuckDBPyConnection, loop: str) -> list[dict[str, Any]]:
    """Every accepted batch of a loop, oldest first."""
    return fetch_dicts(
        con,
        "SELECT * FROM batches WHERE loop = ? ORDER BY ingested_at, batch_id",
        [loop],
    )


def list_rejections(con: duckdb.DuckDBPyConnection, loop: str) -> list[dict[str, Any]]:
    """Every rejected file of a loop, newest first."""
    return fetch_dicts(
        con,
        "SELECT * FROM rejections WHERE loop = ? ORDER BY rejected_at DESC, file_name",
        [loop],
    )
