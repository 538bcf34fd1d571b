"""Stored expectation results: which batches the suite blocks (no GX import needed)."""

from __future__ import annotations

import duckdb


def suite_summary(con: duckdb.DuckDBPyConnection, loop: str, batch_id: str) -> dict[str, int]:
    """The batch's latest validation: expectations, failed errors, failed warnings."""
    row = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT success AND severity = 'error'), "
        "count(*) FILTER (WHERE NOT success AND severity <> 'error') FROM expectation_results "
        "WHERE loop = $loop AND batch_id = $batch AND validated_at = (SELECT max(validated_at) "
        "FROM expectation_results WHERE loop = $loop AND batch_id = $batch)",
        {"loop": loop, "batch": batch_id},
    ).fetchone()
    assert row is not None
    return {
        "expectations": int(row[0]),
        "failed_errors": int(row[1]),
        "failed_warnings": int(row[2]),
    }


def usable_batches(con: duckdb.DuckDBPyConnection, loop: str) -> set[str]:
    """Batches validated at least once whose latest validation failed no error expectation."""
    rows = con.execute(
        "SELECT DISTINCT batch_id FROM expectation_results WHERE loop = ?", [loop]
    ).fetchall()
    return {str(r[0]) for r in rows} - blocked_batches(con, loop)


def blocked_batches(con: duckdb.DuckDBPyConnection, loop: str) -> set[str]:
    """Batches whose latest validation failed an error-severity expectation."""
    rows = con.execute(
        "SELECT DISTINCT batch_id FROM expectation_results r WHERE loop = ? "
        "AND validated_at = (SELECT max(validated_at) FROM expectation_results "
        "                    WHERE loop = r.loop AND batch_id = r.batch_id) "
        "AND severity = 'error' AND NOT success",
        [loop],
    ).fetchall()
    return {str(r[0]) for r in rows}
