"""Validating stored batches with the suite: results, blocking, Data Docs."""

from __future__ import annotations

import json
import re

from validation_loop.gaps.selection import current_comparison
from validation_loop.ingest import ingest_file
from validation_loop.quality.results import blocked_batches, suite_summary
from validation_loop.quality.suite import SUITE_FILE
from validation_loop.quality.validation import validate_batch
from validation_loop.warehouse import Warehouse
from validation_loop_tests.conftest import ROWS


def _ingest_and_validate(home, spec, write_batch, name, rows, source):
    batch = ingest_file(home, spec, write_batch(name, rows), source).batch
    outcomes, page = validate_batch(home, spec, batch.batch_id)
    return batch, {o.check_name: o for o in outcomes}, page


def test_human_batch_passes_the_suite_generated_from_it(home, spec, write_batch) -> None:
    _, outcomes, page = _ingest_and_validate(home, spec, write_batch, "h.csv", ROWS, "human")
    assert outcomes and all(o.success for o in outcomes.values())
    assert (home.loop("churn").root / SUITE_FILE).exists()
    html = page.read_text()
    assert "expect" in html.lower() or "Expectation" in html
    assert not re.search(r'(src|href)="https?://[^"]+\.(js|css)', html)


def test_bad_synthetic_batch_is_reported_and_blocked(home, spec, write_batch) -> None:
    _ingest_and_validate(home, spec, write_batch, "h.csv", ROWS, "human")
    suite_path = home.loop("churn").root / SUITE_FILE
    document = json.loads(suite_path.read_text())
    document["expectations"].append(  # a person's own table-level expectation
        {
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": 1, "max_value": 2},
            "severity": "warning",
        }
    )
    suite_path.write_text(json.dumps(document))
    bad = [dict(ROWS[0], age=200), dict(ROWS[1], region="west"), dict(ROWS[2], churned="maybe")]
    batch, outcomes, _ = _ingest_and_validate(home, spec, write_batch, "s.csv", bad, "synthetic")

    age = outcomes["column_values_to_be_between__age"]
    assert (age.success, age.severity, age.unexpected_count, age.unexpected_examples) == (
        False,
        "warn",
        1,
        [200.0],
    )
    region = outcomes["column_values_to_be_in_set__region"]
    assert (region.success, region.unexpected_examples) == (False, ["west"])
    label = outcomes["column_values_to_be_in_set__churned"]
    assert (label.success, label.severity) == (False, "error")
    rows = outcomes["table_row_count_to_be_between__table"]
    assert (rows.success, rows.observed_value) == (False, 3)
    assert "max_value=2" in rows.expected

    with Warehouse(home.warehouse_path).read() as con:
        assert blocked_batches(con, "churn") == {batch.batch_id}
        assert suite_summary(con, "churn", batch.batch_id) == {
            "expectations": len(outcomes),
            "failed_errors": 1,
            "failed_warnings": 3,
        }
        assert current_comparison(con, spec) is None  # the only synthetic batch is blocked

    good = [dict(r, customer_id=None) for r in ROWS]
    later, _, _ = _ingest_and_validate(home, spec, write_batch, "g.csv", good, "synthetic")
    with Warehouse(home.warehouse_path).read() as con:
        comparison = current_comparison(con, spec)
    assert comparison is not None and comparison.synthetic_batches == [later.batch_id]


def test_blocked_human_batch_does_not_widen_the_suite(home, spec, write_batch) -> None:
    _ingest_and_validate(home, spec, write_batch, "h.csv", ROWS, "human")
    bad = [dict(ROWS[0], customer_id="x1", churned="maybe", age=900)]
    _, outcomes, _ = _ingest_and_validate(home, spec, write_batch, "h2.csv", bad, "human")
    assert not outcomes["column_values_to_be_in_set__churned"].success
    suite = json.loads((home.loop("churn").root / SUITE_FILE).read_text())
    (label,) = [
        e
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == "churned"
    ]
    assert "maybe" not in label["kwargs"]["value_set"]
