"""What a loop holds: batches with lineage, rejected files with reasons, its latest gaps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from validation_loop.gaps.store import latest_gaps, stored_record
from validation_loop.home import Home
from validation_loop.quality.labels import latest_label_quality
from validation_loop.warehouse import Warehouse, list_batches, list_rejections

INVENTORY_SCHEMA = "validation-loop/inventory/v1"


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """A warehouse row with datetimes as ISO strings."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def loop_inventory(home: Home, loop: str) -> dict[str, Any]:
    """The loop's batches and rejections, as a JSON-ready report."""
    with Warehouse(home.warehouse_path).read() as con:
        batches = [_jsonable(b) for b in list_batches(con, loop)]
        rejections = [_jsonable(r) for r in list_rejections(con, loop)]
        records = [_jsonable(r) for r in latest_gaps(con, loop)]
        labels = latest_label_quality(con, loop)
    human = [b for b in batches if b["source"] == "human"]
    synthetic = [b for b in batches if b["source"] == "synthetic"]
    return {
        "schema": INVENTORY_SCHEMA,
        "loop": loop,
        "created_at": datetime.now(UTC).isoformat(),
        "human_batches": human,
        "synthetic_batches": synthetic,
        "human_rows": sum(b["row_count"] for b in human),
        "synthetic_rows": sum(b["row_count"] for b in synthetic),
        "rejected_files": rejections,
        "label_quality": labels,
        "latest_comparison": _comparison(records),
    }


def _comparison(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The latest comparison: its batches, counts per severity and its gaps."""
    if not records:
        return None
    first = records[0]
    counts = dict.fromkeys(("error", "warn", "info"), 0)
    for record in records:
        counts[record["severity"]] += 1
    return {
        "comparison_id": first["comparison_id"],
        "computed_at": first["computed_at"],
        "generator_version": first["generator_version"],
        "human_batches": first["human_batches"],
        "synthetic_batches": first["synthetic_batches"],
        "counts": counts,
        "gaps": [stored_record(r) for r in records if r["severity"] != "info"],
    }
