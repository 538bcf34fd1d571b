"""Render a document as GitHub-flavoured Markdown (the Dagster UI renders it too)."""

from __future__ import annotations

from typing import Any

from validation_loop.render.tables import Document, Table


def _cell(value: Any) -> str:
    """A table cell: empty for missing values, pipes and newlines escaped."""
    if value is None:
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ")


def table_markdown(table: Table) -> str:
    """One table as Markdown, or its `empty` sentence."""
    if not table.rows:
        return f"_{table.empty}_"
    lines = [
        "| " + " | ".join(table.columns) + " |",
        "|" + "---|" * len(table.columns),
        *("| " + " | ".join(_cell(v) for v in row) + " |" for row in table.rows),
    ]
    return "\n".join(lines)


def to_markdown(document: Document) -> str:
    """The whole document as Markdown."""
    parts = [f"# {document.title}", ""]
    parts += [f"- **{name}**: {_cell(value)}" for name, value in document.facts]
    for table in document.tables:
        parts += ["", f"## {table.title}", "", table_markdown(table)]
    return "\n".join(parts) + "\n"
