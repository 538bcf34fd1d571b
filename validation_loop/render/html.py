"""Self-contained HTML pieces: a page (inline CSS, no scripts, no network) and tables."""

from __future__ import annotations

from html import escape
from typing import Any

from validation_loop.render.tables import Table

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1d2330}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
dl{display:grid;grid-template-columns:max-content auto;gap:.25rem 1rem}dt{font-weight:600}
table{border-collapse:collapse;font-size:.85rem}th,td{border:1px solid #d0d5dd;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f2f4f7}.empty{color:#667085;font-style:italic}
"""


def _cell(value: Any) -> str:
    """An escaped table cell; missing values are empty."""
    return "" if value is None else escape(str(value))


def table_html(table: Table) -> str:
    """One table as HTML, or its `empty` sentence."""
    if not table.rows:
        return f'<p class="empty">{escape(table.empty)}</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, facts: list[tuple[str, Any]], body: str, style: str = STYLE) -> str:
    """A standalone HTML page: title, summary facts, then `body` (HTML already escaped)."""
    listed = "".join(f"<dt>{escape(n)}</dt><dd>{_cell(v)}</dd>" for n, v in facts)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{style}</style></head>"
        f"<body><h1>{escape(title)}</h1><dl>{listed}</dl>{body}</body></html>\n"
    )
