"""Keep every gap report: a row per report and per record in DuckDB, and its three files.

The rows of one report go in in one transaction, and each file is written atomically, so a
crash leaves a report wholly stored or not at all, and no file half written.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from validation_loop.atomic import write_text
from validation_loop.gaps.store import record_values
from validation_loop.home import Home
from validation_loop.render.report import report_html, report_markdown
from validation_loop.warehouse import Warehouse, fetch_dicts, insert_rows


def insert_report(con: duckdb.DuckDBPyConnection, report: dict[str, Any]) -> None:
    """One `gap_reports` row and one `report_records` row per record, in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        _insert_report(con, report)
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _insert_report(con: duckdb.DuckDBPyConnection, report: dict[str, Any]) -> None:
    """The inserts of `insert_report`."""
    counts = report["counts"]
    con.execute(
        "INSERT INTO gap_reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            report["loop"],
            report["report_id"],
            datetime.fromisoformat(report["created_at"]),
            report["generator_version"],
            report["comparison_id"],
            report["human_batches"],
            report["synthetic_batches"],
            report["human_rows"],
            report["synthetic_rows"],
            report["score"],
            counts["error"],
            counts["warn"],
            json.dumps(report),
        ],
    )
    insert_rows(
        con,
        "report_records",
        [
            [
                report["loop"],
                report["report_id"],
                report["generator_version"],
                report["human_batches"],
                report["synthetic_batches"],
                *record_values(r),
            ]
            for r in report["metrics"]
        ],
    )


def write_files(home: Home, report: dict[str, Any]) -> dict[str, Path]:
    """`reports/<loop>/<report id>.json`, `.md` and `.html`."""
    folder = home.reports_dir(report["loop"])
    folder.mkdir(parents=True, exist_ok=True)
    texts = {
        "json": json.dumps(report, indent=2) + "\n",
        "md": report_markdown(report),
        "html": report_html(report),
    }
    paths = {}
    for suffix, text in texts.items():
        path = folder / f"{report['report_id']}.{suffix}"
        write_text(path, text)
        paths[suffix] = path
    return paths


def latest_report(home: Home, loop: str) -> dict[str, Any] | None:
    """The loop's newest report as its JSON document."""
    with Warehouse(home.warehouse_path).read() as con:
        row = con.execute(
            "SELECT document FROM gap_reports WHERE loop = ? ORDER BY created_at DESC LIMIT 1",
            [loop],
        ).fetchone()
    return json.loads(row[0]) if row else None


def score_history(con: duckdb.DuckDBPyConnection, loop: str) -> list[dict[str, Any]]:
    """Every report's id, time, version, score and counts, oldest first."""
    rows = fetch_dicts(
        con,
        "SELECT report_id, created_at, generator_version, score, errors, warnings "
        "FROM gap_reports WHERE loop = ? ORDER BY created_at",
        [loop],
    )
    return [{**r, "created_at": r["created_at"].isoformat()} for r in rows]


def version_history(
    con: duckdb.DuckDBPyConnection, loop: str, metrics: tuple[str, ...]
) -> list[dict[str, Any]]:
    """These metrics' records in the newest report of each generator version, oldest version
    first (by its first report)."""
    return fetch_dicts(
        con,
        "WITH reports AS ("
        "  SELECT report_id, generator_version, created_at,"
        "    row_number() OVER (PARTITION BY generator_version ORDER BY created_at DESC) AS newest,"
        "    min(created_at) OVER (PARTITION BY generator_version) AS first_seen"
        "  FROM gap_reports WHERE loop = $loop AND generator_version IS NOT NULL) "
        "SELECT r.generator_version, r.metric, r.columns, r.value, r.q_value "
        "FROM report_records r JOIN reports p USING (report_id) "
        "WHERE r.loop = $loop AND p.newest = 1 AND r.slice IS NULL "
        "AND list_contains($metrics, r.metric) "
        "ORDER BY p.first_seen, r.metric",
        {"loop": loop, "metrics": list(metrics)},
    )
