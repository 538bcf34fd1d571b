"""Tall batches are validated frame by frame: memory does not grow with the batch, and the
results are GX's results on the whole columns, checked against counts made here."""

from __future__ import annotations

import json

import duckdb
import great_expectations as gx
import numpy as np
import pandas as pd
import pytest

from validation_loop.quality.validation import _frames, validate_relation

ROWS = 5_000
CELLS = 700  # frames of at most 700 values: 8 frames of a one-column run


@pytest.fixture
def batch() -> pd.DataFrame:
    """5,000 rows with planted failures spread over several frames."""
    rng = np.random.default_rng(0)
    age = rng.normal(40, 10, ROWS)
    age[[3, 1200, 1201, 2500, 4999]] = 500.0
    age[[10, 2000]] = np.nan
    region = rng.choice(["north", "south"], ROWS).astype(object)
    region[[7, 3333, 4000]] = "mars"
    region[[5, 6]] = None
    flag = pd.array(rng.choice([True, False], ROWS), dtype="boolean")
    flag[4321] = pd.NA
    ids = [f"id{i}" for i in range(ROWS)]
    ids[4500] = "id3"
    return pd.DataFrame({"age": age, "region": region, "flag": flag, "id": ids})


@pytest.fixture
def con(batch) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.register("frame", batch)
    connection.execute("CREATE TABLE t AS SELECT * FROM frame")
    connection.unregister("frame")
    return connection


ENTRIES = [
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "age", "min_value": 0, "max_value": 100, "mostly": 0.999},
    },
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "age", "min_value": 0, "max_value": 100},
    },
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "region", "value_set": ["north", "south"]},
    },
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "region"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "flag", "mostly": 0.5}},
    {
        "type": "expect_column_values_to_be_in_type_list",
        "kwargs": {"column": "flag", "type_list": ["BooleanDtype", "boolean"]},
    },
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
    {
        "type": "expect_column_values_to_match_regex",
        "kwargs": {"column": "id", "regex": "^id[0-3]"},
    },
    {
        "type": "expect_column_mean_to_be_between",
        "kwargs": {"column": "age", "min_value": 0, "max_value": 50},
    },
]


def test_frames_stream_every_row_once_in_order(con, batch) -> None:
    frames = list(_frames(con, "SELECT * FROM t", ("age", "flag"), 700))
    assert [len(f) for f in frames] == [700] * 7 + [100]
    together = pd.concat(frames, ignore_index=True)
    pd.testing.assert_series_equal(together["age"], batch["age"])
    assert all(str(f["flag"].dtype) == "boolean" for f in frames)  # nulls in one frame only


def test_frame_by_frame_results_are_the_whole_column_results(con, batch) -> None:
    """The same outcomes and GX results with frames of 700 values as with one frame, and the
    counts are the ones numpy finds."""
    whole, whole_raw = validate_relation(con, "SELECT * FROM t", ENTRIES)
    framed, framed_raw = validate_relation(con, "SELECT * FROM t", ENTRIES, cells=CELLS)
    assert framed == whole
    assert [r.result for r in framed_raw] == [r.result for r in whole_raw]

    ages = batch["age"].dropna()
    outside = ages[(ages < 0) | (ages > 100)]
    strict_range, loose_range = framed[1], framed[0]
    assert strict_range.unexpected_count == len(outside) == 5
    assert not strict_range.success and loose_range.success is False  # 5 of 4998 > 0.1%
    assert strict_range.unexpected_examples == outside.tolist()
    assert framed_raw[1].result["partial_unexpected_index_list"] == outside.index.tolist()
    regions = batch["region"].dropna()
    assert framed[2].unexpected_count == int((~regions.isin(["north", "south"])).sum()) == 3
    assert framed[3].unexpected_count == int(batch["region"].isna().sum()) == 2
    assert framed[4].success and framed[4].unexpected_count == 1
    assert framed[6].unexpected_count == 2 and not framed[6].success  # "id3" twice
    matching = batch["id"].str.match("^id[0-3]")
    assert framed[7].unexpected_count == int((~matching).sum())
    assert framed[8].observed_value == pytest.approx(ages.mean())


def test_results_are_gx_summary_results(con, batch) -> None:
    """Validating in BASIC first and again in SUMMARY only where values were unexpected, with
    each expectation's configuration built once, gives GX's own SUMMARY result for every
    entry, passing ones included, configuration and all (GX's public route here)."""
    entries = [
        *ENTRIES,
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "age", "min_value": -1000, "max_value": 1000},
        },
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
    ]
    entries = [{**entry, "meta": {"n": n}} for n, entry in enumerate(entries)]
    _, raw = validate_relation(con, "SELECT * FROM t", entries)
    (frame,) = _frames(con, "SELECT * FROM t", tuple(batch.columns), ROWS)  # the same dtypes
    context = gx.get_context(mode="ephemeral")
    asset = context.data_sources.add_pandas("p").add_dataframe_asset("a")
    gx_batch = asset.add_batch_definition_whole_dataframe("b").get_batch(
        batch_parameters={"dataframe": frame}
    )
    suite = gx.ExpectationSuite(name="s", expectations=entries)
    expected = gx_batch.validate(
        suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5}
    )
    assert len(expected.results) == len(entries)
    by_entry = {r.expectation_config.meta["n"]: r for r in expected.results}
    for entry, result in zip(entries, raw, strict=True):
        same = by_entry[entry["meta"]["n"]].to_json_dict()
        del same["expectation_config"]["kwargs"]["batch_id"]  # the public route's batch name
        assert json.dumps(result.to_json_dict(), default=str) == json.dumps(same, default=str)
    assert raw[-1].result["partial_unexpected_index_list"] == []  # passing: SUMMARY's empty lists
