"""Validation in runs of column groups: the same results as GX on the whole frame, wide batches."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import great_expectations as gx
import numpy as np
import pandas as pd
import pytest
from great_expectations.data_context.types.base import ProgressBarsConfig

from validation_loop.ingest import ingest_file
from validation_loop.quality import validation
from validation_loop.quality.suite import SUITE_FILE, entry_columns
from validation_loop.quality.validation import EXAMPLES, validate_batch, validate_relation
from validation_loop.spec import parse_spec, save_spec
from validation_loop.warehouse import Warehouse

TABLE = """
CREATE TABLE t AS SELECT * FROM (VALUES
    ('a', 1.0::DOUBLE, 'north', true, TIMESTAMP '2024-01-01', NULL::DOUBLE, 500.0::DOUBLE,
     1.0::DOUBLE),
    ('a', NULL, 'south', NULL, NULL, NULL, 600.0, 1.0),
    ('b', 'nan'::DOUBLE, NULL, false, TIMESTAMP '2024-02-01 10:00:00', NULL, 700.0, 2.0),
    (NULL, 'inf'::DOUBLE, 'west', true, NULL, NULL, 800.0, 3.0),
    ('c', '-inf'::DOUBLE, '', false, TIMESTAMP '2024-03-01', NULL, 900.0, 3.0),
    ('d', 50.0, 'east', true, TIMESTAMP '2024-04-01', NULL, 1000.0, 4.0),
    ('e', 7.5, 'north', NULL, TIMESTAMP '2024-05-01', NULL, 1100.0, 5.0)
) v(id, num, cat, flag, seen, empty, bad, twin)
"""


def _entry(kind: str, severity: str = "critical", **kwargs: Any) -> dict[str, Any]:
    """A suite entry in GX JSON form."""
    return {"type": kind, "kwargs": kwargs, "severity": severity}


COLUMNS = ["id", "num", "cat", "flag", "seen", "empty", "bad", "twin"]
ENTRIES = [
    _entry("expect_table_columns_to_match_set", column_set=COLUMNS, exact_match=True),
    _entry("expect_table_columns_to_match_set", column_set=[*COLUMNS, "gone"], exact_match=True),
    _entry("expect_table_row_count_to_be_between", "warning", min_value=1, max_value=5),
    _entry("expect_column_values_to_be_in_type_list", column="id", type_list=["StringDtype"]),
    _entry("expect_column_values_to_be_unique", column="id"),
    _entry("expect_column_values_to_be_in_type_list", column="num", type_list=["float64"]),
    _entry("expect_column_values_to_not_be_null", "warning", column="num"),
    _entry("expect_column_values_to_be_between", column="num", min_value=0.0, max_value=10.0),
    _entry("expect_column_values_to_be_in_type_list", column="cat", type_list=["float64"]),
    _entry("expect_column_values_to_not_be_null", column="cat"),
    _entry("expect_column_values_to_be_in_set", column="cat", value_set=["north", "south"]),
    _entry("expect_column_values_to_be_in_type_list", column="flag", type_list=["BooleanDtype"]),
    _entry("expect_column_values_to_not_be_null", column="flag"),
    _entry("expect_column_values_to_be_in_type_list", column="seen", type_list=["datetime64[us]"]),
    _entry("expect_column_values_to_not_be_null", column="empty"),
    _entry("expect_column_values_to_be_between", column="empty", min_value=0.0, max_value=1.0),
    _entry("expect_column_values_to_be_in_set", column="empty", value_set=["x"]),
    _entry("expect_column_values_to_be_between", column="bad", min_value=0.0, max_value=10.0),
    _entry("expect_column_values_to_be_in_set", "warning", column="bad", value_set=[1.0, 2.0]),
    _entry("expect_column_pair_values_to_be_equal", "info", column_A="bad", column_B="twin"),
    _entry("expect_column_values_to_be_unique", column="twin"),
    _entry("expect_column_values_to_not_be_null", column="num"),  # a duplicate entry
]
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}


def _whole_frame_results(con: duckdb.DuckDBPyConnection, relation: str) -> list[Any]:
    """GX's results for each entry, through its fluent pandas API on the whole relation at once,
    fetched as the route before runs did (`fetchdf`, text as Arrow-backed `StringDtype`)."""
    frame = con.execute(relation).fetchdf()
    for column in frame.columns:
        if pd.api.types.is_string_dtype(frame[column].dtype):
            frame[column] = frame[column].astype(pd.StringDtype("pyarrow"))
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("whole")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    results = []
    for entry in ENTRIES:
        (expectation,) = gx.ExpectationSuite(name="one", expectations=[entry]).expectations
        results.append(batch.validate(expectation, result_format=RESULT_FORMAT))
    return results


def _json(value: Any) -> str:
    """A value as canonical JSON text (NaN compares equal to itself as text)."""
    return json.dumps(value, sort_keys=True, default=str)


@pytest.mark.parametrize(("cells", "columns"), [(14, 2), (1_000, 3), (2_000_000, 50)])
@pytest.mark.parametrize("where", ["", "WHERE false"])
def test_runs_give_gx_results_on_the_whole_frame(monkeypatch, cells, columns, where) -> None:
    monkeypatch.setattr(validation, "CELLS_PER_RUN", cells)
    monkeypatch.setattr(validation, "COLUMNS_PER_RUN", columns)
    con = duckdb.connect()
    con.execute(TABLE)
    relation = f"SELECT * FROM t {where}"
    expected = _whole_frame_results(con, relation)
    outcomes, raw = validate_relation(con, relation, ENTRIES)

    assert [o.position for o in outcomes] == list(range(len(ENTRIES)))
    for entry, outcome, mine, theirs in zip(ENTRIES, outcomes, raw, expected, strict=True):
        label = f"{entry['type']} {entry_columns(entry)}"
        assert mine.success == theirs.success, label
        assert _json(mine.result) == _json(theirs.result), label  # NaN == NaN in JSON
        assert mine.expectation_config.type == entry["type"], label
        theirs_kwargs = dict(theirs.expectation_config.kwargs)
        theirs_kwargs.pop("batch_id")
        assert mine.expectation_config.kwargs == theirs_kwargs, label
        assert bool(mine.exception_info.get("raised_exception")) == bool(
            theirs.exception_info.get("raised_exception")
        ), label
        details = theirs.result or {}
        assert outcome.success == theirs.success, label
        assert outcome.unexpected_count == details.get("unexpected_count"), label
        assert outcome.unexpected_percent == details.get("unexpected_percent"), label
        assert outcome.element_count == details.get("element_count"), label
        assert outcome.unexpected_examples == json.loads(
            json.dumps(details.get("partial_unexpected_list", []), default=str)
        ), label
        if "observed_value" in details:
            assert outcome.observed_value == json.loads(
                json.dumps(details["observed_value"], default=str)
            ), label

    by_type = {(o.expectation_type, tuple(o.columns)): o for o in outcomes}
    if not where:  # the edge cases did happen
        assert by_type[("expect_column_values_to_be_between", ("bad",))].unexpected_count == 7
        assert by_type[("expect_column_values_to_not_be_null", ("empty",))].unexpected_count == 7
        assert not by_type[("expect_column_values_to_be_unique", ("id",))].success
        between = by_type[("expect_column_values_to_be_between", ("num",))]
        assert between.unexpected_examples == [float("inf"), float("-inf"), 50.0]


def test_fetch_keeps_the_dtypes_of_fetchdf() -> None:
    con = duckdb.connect()
    con.execute(TABLE)
    con.execute(
        "CREATE TABLE full_rows AS SELECT * FROM t WHERE id IS NOT NULL AND flag IS NOT NULL"
    )
    for table in ("t", "full_rows"):
        before = con.execute(f"SELECT * FROM {table}").fetchdf()
        for column in before.columns:
            if pd.api.types.is_string_dtype(before[column].dtype):
                before[column] = before[column].astype(pd.StringDtype("pyarrow"))
        columns = tuple(before.columns)
        (frame,) = validation._frames(con, f"SELECT * FROM {table}", columns, 1 << 20)
        pd.testing.assert_frame_equal(frame, before)


def test_runs_stay_within_their_budgets(monkeypatch) -> None:
    monkeypatch.setattr(validation, "CELLS_PER_RUN", 30)
    monkeypatch.setattr(validation, "COLUMNS_PER_RUN", 4)
    groups = {("a",): [1, 2], (): [0], ("b", "c"): [3], ("c", "d"): [4], ("e",): [5], ("f",): [6]}
    runs = validation._runs(groups, rows=10)
    assert runs == [
        ((), [0]),  # the table-level group first, alone
        (("a", "b", "c"), [1, 2, 3]),
        (("c", "d", "e"), [4, 5]),
        (("f",), [6]),
    ]
    assert validation._runs({("a", "b"): [0]}, rows=100) == [(("a", "b"), [0])]  # never split


def test_a_300_column_batch_validates_end_to_end(home, tmp_path) -> None:
    columns = (
        {f"x{k}": "numeric" for k in range(200)}
        | {f"c{k}": "categorical" for k in range(80)}
        | {f"b{k}": "boolean" for k in range(19)}
        | {"label": "categorical"}
    )
    spec = parse_spec(
        {"name": "wide", "task": "classification", "label": "label", "columns": columns}, "test"
    )
    save_spec(spec, home.loop("wide").spec_path)
    home.loop("wide").create()
    rng = np.random.default_rng(0)

    def frame(rows: int) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for column, kind in columns.items():
            if kind == "numeric":  # within the human range widened by 10%
                data[column] = rng.random(rows)
            elif kind == "boolean":
                data[column] = rng.random(rows) < 0.5
            else:
                data[column] = rng.choice(["yes", "no"] if column == "label" else list("abc"), rows)
        return pd.DataFrame(data)

    human = tmp_path / "human.parquet"
    frame(300).to_parquet(human)
    synthetic_frame = frame(300)
    synthetic_frame["x0"] = 1000.0
    synthetic_frame.loc[:4, "c0"] = "zzz"
    synthetic = tmp_path / "synthetic.parquet"
    synthetic_frame.to_parquet(synthetic)

    human_batch = ingest_file(home, spec, human, "human").batch
    outcomes, _ = validate_batch(home, spec, human_batch.batch_id)
    assert len(outcomes) > 2 * 300 and all(o.success for o in outcomes)
    batch = ingest_file(home, spec, synthetic, "synthetic").batch
    outcomes, page = validate_batch(home, spec, batch.batch_id)

    suite = json.loads((home.loop("wide").root / SUITE_FILE).read_text())
    assert len(outcomes) == len(suite["expectations"])
    failed = {o.check_name: o for o in outcomes if not o.success}
    assert set(failed) == {"column_values_to_be_between__x0", "column_values_to_be_in_set__c0"}
    assert failed["column_values_to_be_between__x0"].unexpected_count == 300
    assert failed["column_values_to_be_in_set__c0"].unexpected_examples == ["zzz"] * 5
    assert page.exists() and batch.batch_id in page.name
    with Warehouse(home.warehouse_path).read() as con:
        stored = con.execute(
            "SELECT position, check_name, success, observed_value, unexpected_count, "
            "unexpected_percent, element_count, unexpected_examples FROM expectation_results "
            "WHERE batch_id = ? ORDER BY position",
            [batch.batch_id],
        ).fetchall()
    assert stored == [
        (
            o.position,
            o.check_name,
            o.success,
            json.dumps(o.observed_value),
            o.unexpected_count,
            o.unexpected_percent,
            o.element_count,
            json.dumps(o.unexpected_examples),
        )
        for o in outcomes
    ]
