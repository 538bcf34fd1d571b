"""Validating stored batches with a suite generated from a different, human batch: a clean batch
passes every expectation, planted violations fail exactly their expectations and block the
batch, and a blocked human batch never widens the suite.

The suite comes from the three typical rows (conftest `ROWS`); by the rules in README
"Expectations" it holds, known in advance: the column set, a type per column, a unique
`customer_id`, `age` within [34, 51.5] widened by 10% of its width on each side, `region` not
null and in {north, south}, and the label `churned` not null and in {no, yes}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from validation_loop.gaps.selection import current_comparison
from validation_loop.home import Home
from validation_loop.ingest import ingest_file
from validation_loop.quality.results import blocked_batches, suite_summary
from validation_loop.quality.suite import SUITE_FILE
from validation_loop.quality.validation import ExpectationOutcome, refresh_suite, validate_batch
from validation_loop.spec import LoopSpec
from validation_loop.warehouse import Warehouse
from validation_loop_tests.conftest import ROWS

TYPES = [f"column_values_to_be_in_type_list__{c}" for c in ROWS[0]]
SUITE = {
    "table_columns_to_match_set__table": "error",
    **dict.fromkeys(TYPES, "error"),
    "column_values_to_be_unique__customer_id": "error",
    "column_values_to_be_between__age": "warn",
    "column_values_to_not_be_null__region": "warn",
    "column_values_to_be_in_set__region": "warn",
    "column_values_to_not_be_null__churned": "error",
    "column_values_to_be_in_set__churned": "error",
}
# A batch unlike the human one that breaks none of it: ages 33 and 53 lie outside the human
# [34, 51.5] but inside the widened [32.25, 53.25]; other ids, dates and combinations.
CLEAN = [
    {
        "customer_id": "n1",
        "age": 33,
        "region": "south",
        "active": "no",
        "signup": "2023-03-01",
        "churned": "yes",
    },
    {
        "customer_id": "n2",
        "age": 53,
        "region": "north",
        "active": None,
        "signup": None,
        "churned": "no",
    },
    {
        "customer_id": "n3",
        "age": None,
        "region": "north",
        "active": "yes",
        "signup": "2025-12-31 23:59:00",
        "churned": "no",
    },
]
# Planted violations: age out of range, an unknown region, a missing region with an unknown
# label (a missing label or a repeated id would reject the file at ingest already).
PLANTED = [
    dict(CLEAN[0], age=200),
    dict(CLEAN[1], region="west"),
    dict(CLEAN[2], region=None, churned="maybe"),
]
ROW_COUNT_CHECK = "table_row_count_to_be_between__table"


def _ingest_and_validate(
    home: Home,
    spec: LoopSpec,
    write_batch: Callable[..., Path],
    name: str,
    rows: list[dict[str, Any]],
    source: str,
) -> tuple[str, dict[str, ExpectationOutcome], Path]:
    """Ingest rows as a batch and validate it: (batch id, outcomes by check, Data Docs page)."""
    batch = ingest_file(home, spec, write_batch(name, rows), source).batch
    outcomes, page = validate_batch(home, spec, batch.batch_id)
    return batch.batch_id, {o.check_name: o for o in outcomes}, page


def test_a_different_clean_batch_passes_the_suite_from_the_human_batch(
    home: Home, spec: LoopSpec, write_batch: Callable[..., Path]
) -> None:
    ingest_file(home, spec, write_batch("h.csv", ROWS), "human")
    assert refresh_suite(home, spec) == len(SUITE)  # from the human batch, not validated on it
    _, outcomes, page = _ingest_and_validate(home, spec, write_batch, "s.csv", CLEAN, "synthetic")
    assert {name: o.severity for name, o in outcomes.items()} == SUITE
    assert [name for name, o in outcomes.items() if not o.success] == []
    age = outcomes["column_values_to_be_between__age"]
    assert (age.element_count, age.unexpected_count) == (3, 0)
    html = page.read_text()
    assert "Expectation" in html or "expect" in html.lower()
    assert not re.search(r'(src|href)="https?://[^"]+\.(js|css)', html)


def test_planted_violations_fail_exactly_their_expectations_and_block_the_batch(
    home: Home, spec: LoopSpec, write_batch: Callable[..., Path]
) -> None:
    human, _, _ = _ingest_and_validate(home, spec, write_batch, "h.csv", ROWS, "human")
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
    bad, outcomes, _ = _ingest_and_validate(home, spec, write_batch, "s.csv", PLANTED, "synthetic")

    failed = {name: o.severity for name, o in outcomes.items() if not o.success}
    assert failed == {
        "column_values_to_be_between__age": "warn",
        "column_values_to_be_in_set__region": "warn",
        "column_values_to_not_be_null__region": "warn",
        "column_values_to_be_in_set__churned": "error",
        ROW_COUNT_CHECK: "warn",
    }
    assert set(outcomes) == {*SUITE, ROW_COUNT_CHECK}
    age = outcomes["column_values_to_be_between__age"]
    assert (age.unexpected_count, age.unexpected_examples) == (1, [200.0])
    assert outcomes["column_values_to_be_in_set__region"].unexpected_examples == ["west"]
    assert outcomes["column_values_to_not_be_null__region"].unexpected_count == 1
    assert outcomes["column_values_to_be_in_set__churned"].unexpected_examples == ["maybe"]
    rows = outcomes[ROW_COUNT_CHECK]
    assert (rows.observed_value, rows.expected) == (3, "min_value=1, max_value=2")

    with Warehouse(home.warehouse_path).read() as con:
        assert blocked_batches(con, "churn") == {bad}
        assert suite_summary(con, "churn", bad) == {
            "expectations": len(SUITE) + 1,
            "failed_errors": 1,
            "failed_warnings": 4,
        }
        assert current_comparison(con, spec) is None  # the only synthetic batch is blocked

    good, _, _ = _ingest_and_validate(home, spec, write_batch, "g.csv", CLEAN, "synthetic")
    with Warehouse(home.warehouse_path).read() as con:
        assert blocked_batches(con, "churn") == {bad}
        comparison = current_comparison(con, spec)
    assert comparison is not None
    assert (comparison.human_batches, comparison.synthetic_batches) == ([human], [good])


def test_blocked_human_batch_does_not_widen_the_suite(
    home: Home, spec: LoopSpec, write_batch: Callable[..., Path]
) -> None:
    _ingest_and_validate(home, spec, write_batch, "h.csv", ROWS, "human")
    bad = [dict(ROWS[0], customer_id="x1", churned="maybe", age=900)]
    _, outcomes, _ = _ingest_and_validate(home, spec, write_batch, "h2.csv", bad, "human")
    assert not outcomes["column_values_to_be_in_set__churned"].success
    suite = json.loads((home.loop("churn").root / SUITE_FILE).read_text())
    kwargs = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in suite["expectations"]}
    assert kwargs[("expect_column_values_to_be_in_set", "churned")]["value_set"] == ["no", "yes"]
    between = kwargs[("expect_column_values_to_be_between", "age")]
    assert (between["min_value"], between["max_value"]) == (32.25, 53.25)
