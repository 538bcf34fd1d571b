"""Render a document as GitHub-flavoured Markdown (the Dagster UI renders it too).

Text from data (column names, category values, file names, versions) is made inert before it
goes into Markdown: `inline` backslash-escapes every character that could start markup (raw
HTML, links, emphasis, code spans, entities) or end a table cell, and turns line breaks into
spaces; `code_block` picks a fence that no line inside can close.
"""

from __future__ import annotations

import json
import re
from typing import Any

from validation_loop.render.tables import Document, Table

# Characters CommonMark and GFM may read as markup anywhere in a line (ASCII punctuation, so
# a backslash escape is honoured); `_` only where it can open or close emphasis.
MARKUP = frozenset("\\`*[]<>&|~")
# Everything a Markdown renderer, a terminal or Python's `splitlines` may break a line at.
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_BREAK = re.compile(f"[{LINE_BREAKS}]")
_INERT = re.compile(f"[{LINE_BREAKS}\\x00-\\x1f\\x7f-\\x9f]")
_FENCE_RUN = re.compile(r"`+")


def one_line(value: object) -> str:
    """A value as one inert line: each line break and every other control character (escape
    sequences, backspace) written as its JSON escape (`\\n`, `\\u2028`, `\\u001b`), so it
    stays one line wherever it is shown, cannot move a terminal's cursor, and stays visible."""
    return _INERT.sub(lambda m: json.dumps(m.group())[1:-1], str(value))


def inline(value: Any) -> str:
    """A value as inline Markdown that shows exactly its text: markup characters escaped, line
    breaks as spaces (a table row or list item is one line); None is empty."""
    if value is None:
        return ""
    text = _BREAK.sub(" ", str(value))
    out = []
    for index, char in enumerate(text):
        if char in MARKUP:
            out.append("\\" + char)
        elif char == "_":
            before = text[index - 1] if index else " "
            after = text[index + 1] if index + 1 < len(text) else " "
            out.append("_" if before.isalnum() and after.isalnum() else "\\_")
        else:
            out.append(char)
    return "".join(out)


def code_block(lines: list[str], info: str = "") -> str:
    """Lines as a fenced code block: each kept on one line, and the fence longer than any run
    of backticks inside, so no line can close it."""
    body = [one_line(line) for line in lines]
    longest = max((len(run) for line in body for run in _FENCE_RUN.findall(line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([fence + info, *body, fence])


def table_markdown(table: Table) -> str:
    """One table as Markdown, or its `empty` sentence."""
    if not table.rows:
        return f"_{inline(table.empty)}_"
    lines = [
        "| " + " | ".join(inline(c) for c in table.columns) + " |",
        "|" + "---|" * len(table.columns),
        *("| " + " | ".join(inline(v) for v in row) + " |" for row in table.rows),
    ]
    return "\n".join(lines)


def to_markdown(document: Document) -> str:
    """The whole document as Markdown."""
    parts = [f"# {inline(document.title)}", ""]
    parts += [f"- **{inline(name)}**: {inline(value)}" for name, value in document.facts]
    for table in document.tables:
        parts += ["", f"## {inline(table.title)}", "", table_markdown(table)]
    return "\n".join(parts) + "\n"
