"""HTML rendering: self-contained, escaped."""

from __future__ import annotations

from validation_loop.render.html import page as html_page
from validation_loop.render.html import table_html
from validation_loop.render.tables import Table


def test_html_is_escaped_and_offline() -> None:
    page = html_page(
        "<Loop>",
        [("file", "a&b")],
        table_html(Table("Rejected", ["message"], [["<script>x</script>"]])),
    )
    assert "<title>&lt;Loop&gt;</title>" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script" not in page.replace("&lt;script", "")
    assert "http://" not in page and "https://" not in page
