"""Markdown rendering of report documents."""

from __future__ import annotations

from validation_loop.render.markdown import one_line, table_markdown, to_markdown
from validation_loop.render.tables import Document, Table


def test_table_escapes_pipes_and_newlines() -> None:
    table = Table("t", ["a", "b"], [["x|y", "line\nbreak"], [None, 3]])
    assert table_markdown(table) == "| a | b |\n|---|---|\n| x\\|y | line break |\n|  | 3 |"


def test_empty_table_says_so() -> None:
    assert table_markdown(Table("t", ["a"], [], empty="no rejects")) == "_no rejects_"


def test_document_has_title_facts_and_sections() -> None:
    text = to_markdown(Document("Loop x", [("rows", 5)], [Table("Batches", ["id"], [["b1"]])]))
    assert text.splitlines()[:3] == ["# Loop x", "", "- **rows**: 5"]
    assert "## Batches" in text


def test_one_line_makes_a_name_one_inert_line() -> None:
    """Line breaks and terminal escape sequences come out as visible escapes."""
    name = "a\nb\r\x1b[1A\x1b[2Kc\x08\x9b\u2028d"
    assert one_line(name) == "a\\nb\\r\\u001b[1A\\u001b[2Kc\\b\\u009b\\u2028d"
    assert one_line("café <b>|x|</b> 数据") == "café <b>|x|</b> 数据"
