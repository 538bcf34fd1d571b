"""Data Docs: a page per validation, offline; the suite stored and rendered again only when it
changed."""

from __future__ import annotations

import json
import re
from pathlib import Path

from validation_loop.ingest import ingest_file
from validation_loop.quality.data_docs import site_index
from validation_loop.quality.suite import SUITE_FILE
from validation_loop.quality.validation import validate_batch
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
