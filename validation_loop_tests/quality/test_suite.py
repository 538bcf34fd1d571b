"""The generated suite, how regeneration treats edits, and the errors of a bad suite file."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from validation_loop.quality.suite import (
    SuiteError,
    generated_expectations,
    human_profile,
    load_suite,
    merge,
    regenerate_suite,
)
from validation_loop.spec import parse_spec
from validation_loop_tests.conftest import ROWS, SPEC


@pytest.fixture
def profile(spec):
    con = duckdb.connect()
    frame = pd.DataFrame(ROWS).assign(
        age=lambda f: f["age"].astype(float),
        active=lambda f: f["active"].map({"yes": True, "no": False}),
        signup=lambda f: pd.to_datetime(f["signup"], format="mixed"),
    )
    con.register("h", frame)
    return human_profile(con, "h", spec)


def _by_key(entries):
    return {(e["type"], e["kwargs"].get("column")): e for e in entries}


def test_generated_suite_covers_schema_types_ranges_categories_label(spec, profile) -> None:
    entries = _by_key(generated_expectations(spec, profile))
    assert entries[("expect_table_columns_to_match_set", None)]["kwargs"]["column_set"] == list(
        SPEC["columns"]
    )
    assert entries[("expect_column_values_to_be_in_type_list", "age")]["severity"] == "critical"
    assert entries[("expect_column_values_to_be_unique", "customer_id")]["severity"] == "critical"
    between = entries[("expect_column_values_to_be_between", "age")]
    assert between["kwargs"]["min_value"] == pytest.approx(34 - 0.1 * 17.5)
    assert between["kwargs"]["max_value"] == pytest.approx(51.5 + 0.1 * 17.5)
    assert between["severity"] == "warning"
    region = entries[("expect_column_values_to_be_in_set", "region")]
    assert region["kwargs"]["value_set"] == ["north", "south"]
    label = entries[("expect_column_values_to_be_in_set", "churned")]
    assert label["kwargs"]["value_set"] == ["no", "yes"] and label["severity"] == "critical"
    # 'age' has a null in the human data, 'region' has none
    assert ("expect_column_values_to_not_be_null", "age") not in entries
    assert entries[("expect_column_values_to_not_be_null", "region")]["severity"] == "warning"


def test_regeneration_keeps_edits_and_additions(spec, profile, tmp_path) -> None:
    path = tmp_path / "expectations.json"
    regenerate_suite(path, spec, profile)
    document = json.loads(path.read_text())
    for entry in document["expectations"]:
        if entry["type"] == "expect_column_values_to_be_in_set" and entry["kwargs"]["column"] == (
            "region"
        ):
            entry["kwargs"]["value_set"] = ["north", "south", "east"]  # a person widened it
    document["expectations"].append(
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}
    )
    path.write_text(json.dumps(document))
    wider = {
        **profile,
        "age": {**profile["age"], "max": 90.0},
        "region": {**profile["region"], "nulls": 1},
    }
    regenerate_suite(path, spec, wider)
    entries = _by_key(json.loads(path.read_text())["expectations"])
    assert entries[("expect_column_values_to_be_in_set", "region")]["kwargs"]["value_set"] == [
        "north",
        "south",
        "east",
    ]
    assert entries[("expect_table_row_count_to_be_between", None)]["kwargs"] == {"min_value": 1}
    assert entries[("expect_column_values_to_be_between", "age")]["kwargs"]["max_value"] > 90
    assert ("expect_column_values_to_not_be_null", "region") not in entries  # no longer true


def test_merge_adds_missing_generated_entries(spec, profile) -> None:
    generated = generated_expectations(spec, profile)
    assert merge([], generated) == generated
    assert len(merge(generated[:3], generated)) == len(generated)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"expectations": [', "not valid JSON at line 1, column 19"),
        (
            '{"expectations": [{"type": "expect_column_to_be_magic", '
            '"kwargs": {"column": "age"}}]}',
            "entry 1 (expect_column_to_be_magic): unknown expectation type",
        ),
        (
            '{"expectations": [{"type": "expect_column_values_to_not_be_null", '
            '"kwargs": {"column": "salary"}}]}',
            "entry 1 (expect_column_values_to_not_be_null): column 'salary' is not in the spec",
        ),
        (
            '{"expectations": [{"type": "expect_column_values_to_be_between", '
            '"kwargs": {"column": "age", "bogus": 1}}]}',
            "entry 1 (expect_column_values_to_be_between): GX rejects its arguments",
        ),
        ('{"rules": []}', "expected an object with an 'expectations' list"),
    ],
)
def test_bad_suite_file_names_file_and_entry(spec, tmp_path, content, expected) -> None:
    path = tmp_path / "expectations.json"
    path.write_text(content)
    with pytest.raises(SuiteError) as caught:
        load_suite(path, spec)
    assert str(caught.value).startswith(str(path))
    assert expected in str(caught.value)


def test_regression_label_gets_a_range(profile) -> None:
    spec = parse_spec(
        {**SPEC, "task": "regression", "label": "age", "columns": {**SPEC["columns"]}}, "x"
    )
    entries = _by_key(generated_expectations(spec, profile))
    assert entries[("expect_column_values_to_be_between", "age")]["severity"] == "critical"


def test_edited_severity_survives_regeneration(spec, profile, tmp_path) -> None:
    path = tmp_path / "expectations.json"
    regenerate_suite(path, spec, profile)
    document = json.loads(path.read_text())
    for entry in document["expectations"]:
        if entry["type"] == "expect_column_values_to_not_be_null":
            entry["severity"] = "critical"
    path.write_text(json.dumps(document))
    regenerate_suite(path, spec, profile)
    entries = _by_key(json.loads(path.read_text())["expectations"])
    assert entries[("expect_column_values_to_not_be_null", "region")]["severity"] == "critical"


def test_check_names_are_ascii_identifiers() -> None:
    from validation_loop.quality.validation import check_names

    names = check_names(
        [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "âge moyen"}},
            {"expectation_type": "legacy", "kwargs": {}},
        ]
    )
    assert names == ["column_values_to_not_be_null___ge_moyen", "unknown__table"]


def test_profile_of_many_categorical_columns_fits_in_a_small_memory_limit() -> None:
    """200 categorical columns: each holds two DISTINCT aggregates, and 400 aggregates in one
    scan ran out of 256MB; the profile still finds every column's values."""
    columns = {f"c{k}": "categorical" for k in range(200)}
    spec = parse_spec(
        {"name": "wide", "task": "classification", "label": "c0", "columns": columns}, "test"
    )
    con = duckdb.connect(config={"memory_limit": "256MB", "threads": 2})
    select = ", ".join(f"'v' || ((i * {k + 7}) % 50)::VARCHAR AS c{k}" for k in range(200))
    con.execute(f"CREATE TABLE h AS SELECT {select} FROM range(2000) r(i)")
    found = human_profile(con, "h", spec)
    for k in (0, 1, 199):
        expected = sorted({f"v{(i * (k + 7)) % 50}" for i in range(2000)})
        assert found[f"c{k}"]["values"] == expected
        assert found[f"c{k}"]["rows"] == 2000 and found[f"c{k}"]["nulls"] == 0
