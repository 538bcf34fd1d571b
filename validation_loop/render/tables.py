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
    comparison = report.get("latest_comparison")
    labels = report.get("label_quality")
    gap_facts: list[tuple[str, Any]] = []
    if labels is not None:
        gap_facts.append(
            (
                "human labels",
                f"Krippendorff's alpha {labels['krippendorff_alpha']}, "
                f"{labels['flagged_items']} of {labels['items']} items left out for low agreement",
            )
        )
    gap_tables: list[Table] = []
    if comparison is not None:
        counts = comparison["counts"]
        gap_facts = [
            ("generator version compared", comparison["generator_version"]),
            (
                "gaps",
                f"{counts['error']} error, {counts['warn']} warn ({sum(counts.values())} metrics)",
            ),
        ]
        gap_tables = [gaps_table(comparison["gaps"], limit=50)]
    return Document(
        title=f"Loop {report['loop']}: batches",
        facts=[
            ("human batches", len(report["human_batches"])),
            ("human rows", report["human_rows"]),
            ("synthetic batches", len(report["synthetic_batches"])),
            ("synthetic rows", report["synthetic_rows"]),
            ("rejected files", len(rejected)),
            *gap_facts,
            ("created at", report["created_at"]),
        ],
        tables=[
            *gap_tables,
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


def gaps_table(records: list[dict[str, Any]], limit: int = 20) -> Table:
    """The worst records (as stored or as `GapRecord.to_dict()`) as a table."""

    def number(value: Any) -> str:
        return "" if value is None else f"{value:.3g}"

    shown = [r for r in records if r["severity"] != "info"][:limit]
    return Table(
        "Gaps",
        ["severity", "kind", "metric", "columns", "slice", "value", "threshold", "q"],
        [
            [
                r["severity"],
                r["kind"],
                r["metric"],
                ", ".join(r["columns"]),
                "" if r["slice"] is None else str(r["slice"]),
                number(r["value"]),
                number(r["threshold"]),
                number(r["q_value"]),
            ]
            for r in shown
        ],
        empty="no gaps at warn or error",
    )
