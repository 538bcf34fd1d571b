"""Data Docs: a page per validation, offline; the suite stored and rendered again only when it
changed; column names and values shown as text, never as markup."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from validation_loop.home import Home
from validation_loop.ingest import ingest_file
from validation_loop.quality.data_docs import site_index
from validation_loop.quality.suite import SUITE_FILE
from validation_loop.quality.validation import validate_batch
from validation_loop.spec import parse_spec, save_spec
from validation_loop_tests.conftest import ROWS

REMOTE_RESOURCE = re.compile(r'<(script|link|img)\b[^>]*(src|href)="(https?:)?//', re.I)


def _validated_page(home, spec, write_batch, name: str, rows, source: str) -> Path:
    batch = ingest_file(home, spec, write_batch(name, rows), source).batch
    _, page = validate_batch(home, spec, batch.batch_id)
    assert batch.batch_id in page.name
    return page


def test_suite_page_is_rendered_only_when_the_suite_changed(home, spec, write_batch) -> None:
    layout = home.loop("churn")
    _validated_page(home, spec, write_batch, "h.csv", ROWS, "human")  # then refreshes the suite
    _validated_page(home, spec, write_batch, "s1.csv", ROWS[:2], "synthetic")
    suite_page = site_index(layout).parent / "expectations" / "churn.html"
    rendered = suite_page.stat().st_mtime_ns

    page = _validated_page(home, spec, write_batch, "s2.csv", ROWS[1:], "synthetic")
    assert suite_page.stat().st_mtime_ns == rendered  # same suite: its page is left as it is
    index = site_index(layout).read_text(encoding="utf-8")
    assert page.name.removesuffix(".html") in index
    for html in (page, site_index(layout)):
        assert not REMOTE_RESOURCE.search(html.read_text(encoding="utf-8")), html

    suite_path = layout.root / SUITE_FILE
    document = json.loads(suite_path.read_text(encoding="utf-8"))
    document["expectations"].append(
        {
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": 1, "max_value": 10},
            "severity": "warning",
        }
    )
    suite_path.write_text(json.dumps(document), encoding="utf-8")
    _validated_page(home, spec, write_batch, "s3.csv", ROWS[:1], "synthetic")
    assert suite_page.stat().st_mtime_ns != rendered  # a person edited the suite
    assert not REMOTE_RESOURCE.search(suite_page.read_text(encoding="utf-8"))


# Column names that are markup, or an entity (shown as "a&amp;b", not "a&b"); a value that is.
HOSTILE = ["<img src=x onerror=alert(1)>", '"><script>alert(2)</script>', "a&amp;b"]
HOSTILE_VALUE = "<b>bold</b>"


class _Elements(HTMLParser):
    """Every innermost `tag` element (with class `css_class`, if given): its text, and whether
    any element was inside it."""

    def __init__(self, html: str, tag: str, css_class: str | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.tag, self.css_class = tag, css_class
        self.found: list[tuple[str, bool]] = []
        self._text: list[str] | None = None
        self._nested = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == self.tag and (
            self.css_class is None or self.css_class in (dict(attrs).get("class") or "").split()
        ):
            self._text, self._nested = [], False
        elif self._text is not None:
            self._nested = True

    def handle_endtag(self, tag: str) -> None:
        if tag == self.tag and self._text is not None:
            self.found.append(("".join(self._text).strip(), self._nested))
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def texts(self) -> list[str]:
        """The text of each element."""
        return [text for text, _ in self.found]


def test_column_names_and_values_are_shown_as_text(home: Home, write_batch) -> None:
    """The suite's and a failed validation's pages show each hostile column name as the text of
    its sidebar link and its section heading (nothing inside either), and the observed column
    set and an unexpected value as text: none of it is markup in the page."""
    spec = parse_spec(
        {
            "name": "hostile_docs",
            "task": "classification",
            "label": "label",
            "columns": {
                HOSTILE[0]: "numeric",
                HOSTILE[1]: "categorical",
                HOSTILE[2]: "categorical",
                "label": "categorical",
            },
        },
        "test",
    )
    save_spec(spec, home.loop(spec.name).spec_path)
    home.loop(spec.name).create()
    rows = [
        {HOSTILE[0]: float(i), HOSTILE[1]: "xy"[i % 2], HOSTILE[2]: "z", "label": "ab"[i % 2]}
        for i in range(6)
    ]
    human = ingest_file(home, spec, write_batch("h.csv", rows), "human").batch
    validate_batch(home, spec, human.batch_id)
    bad = [{**row, HOSTILE[1]: HOSTILE_VALUE} for row in rows]  # not in the human set
    synthetic = ingest_file(home, spec, write_batch("s.csv", bad), "synthetic").batch
    _, page = validate_batch(home, spec, synthetic.batch_id)
    suite_page = site_index(home.loop(spec.name)).parent / "expectations" / f"{spec.name}.html"

    for path in (suite_page, page):
        html = path.read_text(encoding="utf-8")
        assert [n for n in [*HOSTILE, HOSTILE_VALUE] if n in html] == [], path
        for tag, css_class in (("a", "ge-navigation-sidebar-link"), ("h5", None)):
            found = _Elements(html, tag, css_class).found
            assert {(name, False) for name in HOSTILE} <= set(found), (path, tag, found)
    cells = _Elements(page.read_text(encoding="utf-8"), "td").texts()
    assert HOSTILE_VALUE in cells  # the unexpected value, in the unexpected values table
    assert any(all(repr(n) in cell for n in HOSTILE) for cell in cells)  # the observed set
