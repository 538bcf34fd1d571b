"""The tables a loop report is made of, independent of the output format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Table:
    """A titled table of plain values; `empty` is shown when it has no rows."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    empty: str = "none"


@dataclass(frozen=True)
class Document:
    """A report: a title, a few summary facts, then tables."""

    title: str
    facts: list[tuple[str, Any]]
    tables: list[Table]


def inventory_document(report: dict[str, Any]) -> Document:
    """The inventory report (batches and rejected files) as a document."""
    batch_columns = [
        "batch_id",
        "file_name",
        "format",
        "row_count",
        "generator_version",
        "ingested_at",
        "warnings",
    ]

    def batch_rows(batches: list[dict[str, Any]]) -> list[list[Any]]:
        return [
            [b[c] if c != "warnings" else "; ".join(b[c]) for c in batch_columns] for b in batches
        ]

    rejected = report["rejected_files"]
    return Document(
        title=f"Loop {report['loop']}: batches",
        facts=[
            ("human batches", len(report["human_batches"])),
            ("human rows", report["human_rows"]),
            ("synthetic batches", len(report["synthetic_batches"])),
            ("synthetic rows", report["synthetic_rows"]),
            ("rejected files", len(rejected)),
            ("created at", report["created_at"]),
        ],
        tables=[
            Table("Human batches", batch_columns, batch_rows(report["human_batches"])),
            Table("Synthetic batches", batch_columns, batch_rows(report["synthetic_batches"])),
            Table(
                "Rejected files",
                [
                    "file_name",
                    "source",
                    "kind",
                    "column",
                    "row",
                    "line",
                    "message",
                    "quarantined_as",
                ],
                [
                    [
                        r["file_name"],
                        r["source"],
                        r["kind"],
                        r["column_name"],
                        r["row_number"],
                        r["line_number"],
                        r["message"],
                        r["quarantined_as"],
                    ]
                    for r in rejected
                ],
            ),
        ],
    )
