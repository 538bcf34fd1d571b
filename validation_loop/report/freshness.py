"""Stale data as findings: no human batch for too long, no batch of the current generator."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from validation_loop.feedback.versions import current_version
from validation_loop.home import LoopLayout
from validation_loop.spec import LoopSpec

DAY_SECONDS = 86_400


def _record(metric: str, value: float, threshold: float, gap: bool, message: str) -> dict[str, Any]:
    """A freshness record in the gap record shape (no test: severity from the rule alone)."""
    return {
        "kind": "freshness",
        "metric": metric,
        "columns": [],
        "slice": None,
        "value": value,
        "threshold": threshold,
        "p_value": None,
        "q_value": None,
        "severity": "warn" if gap else "info",
        "message": message,
    }


def freshness_records(
    con: duckdb.DuckDBPyConnection, spec: LoopSpec, layout: LoopLayout, now: datetime
) -> list[dict[str, Any]]:
    """`days_since_human_batch` against `freshness.human_max_age_days`, and
    `current_version_batches` (synthetic batches of the current generator config, at least 1)."""
    limit = spec.freshness.human_max_age_days
    row = con.execute(
        "SELECT max(ingested_at) FROM batches WHERE loop = ? AND source = 'human'", [spec.name]
    ).fetchone()
    newest = row[0] if row else None
    records = []
    if newest is not None:
        age = round((now - newest).total_seconds() / DAY_SECONDS, 2)
        stale = age > limit
        records.append(
            _record(
                "days_since_human_batch",
                age,
                limit,
                stale,
                f"the newest human batch is {age:g} days old"
                + (f", more than {limit:g}: collect fresh human labels." if stale else "."),
            )
        )
    version = current_version(layout)
    if version is not None:
        count_row = con.execute(
            "SELECT count(*) FROM batches WHERE loop = ? AND source = 'synthetic' "
            "AND generator_version = ?",
            [spec.name, version],
        ).fetchone()
        count = int(count_row[0]) if count_row else 0
        records.append(
            _record(
                "current_version_batches",
                float(count),
                1.0,
                count == 0,
                f"{count} synthetic batch(es) of the current generator config {version}"
                + (": generate one (validation-loop generate)." if count == 0 else "."),
            )
        )
    return records
