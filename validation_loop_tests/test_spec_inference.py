"""`init` inference: column types from a human file."""

from __future__ import annotations

import pytest

from validation_loop.errors import SpecError
from validation_loop.spec import ColumnType, Task
from validation_loop.spec_inference import INFERENCE_ROWS, infer_spec

ROWS = [
    {
        "id": i,
        "score": i * 1.5,
        "grade": i % 3,
        "city": ["paris", "rome", "oslo"][i % 3],
        "flag": ["yes", "no"][i % 2],
        "seen": f"2024-01-{i % 28 + 1:02d}",
        "note": f"a long free text comment number {i} that nobody will slice by, ever",
        "label": ["a", "b"][i % 2],
        "target": i * 0.37,
    }
    for i in range(200)
]


def test_infers_each_type(write_batch) -> None:
    path = write_batch("human.csv", ROWS)
    spec = infer_spec(
        "t", path, label="label", id_column="id", slices=["grade", "city"], sensitive=["flag"]
    )
    assert spec.task is Task.classification
    assert spec.columns == {
        "id": ColumnType.text,
        "score": ColumnType.numeric,
        "grade": ColumnType.categorical,  # numeric with 3 values, named as a slice
        "city": ColumnType.categorical,
        "flag": ColumnType.boolean,
        "seen": ColumnType.datetime,
        "note": ColumnType.text,
        "label": ColumnType.categorical,
        "target": ColumnType.numeric,
    }


def test_numeric_not_named_as_slice_stays_numeric(write_batch) -> None:
    spec = infer_spec("t", write_batch("human.parquet", ROWS), label="label")
    assert spec.columns["grade"] is ColumnType.numeric


def test_regression_inferred_from_many_valued_numeric_label(write_batch) -> None:
    spec = infer_spec("t", write_batch("human.jsonl", ROWS), label="target")
    assert spec.task is Task.regression
    assert spec.columns["target"] is ColumnType.numeric


def test_slice_with_many_numeric_values_is_refused(write_batch) -> None:
    with pytest.raises(SpecError, match="'score' has 200 distinct numeric values"):
        infer_spec("t", write_batch("human.csv", ROWS), label="label", slices=["score"])


def test_unknown_column_is_named(write_batch) -> None:
    with pytest.raises(SpecError, match="column 'gender' is not in the file"):
        infer_spec("t", write_batch("human.csv", ROWS), label="label", sensitive=["gender"])


def test_long_format_keeps_annotator_out_of_columns(write_batch) -> None:
    rows = [
        {"item": i // 2, "annotator": f"a{i % 2}", "x": i // 2, "label": "y"} for i in range(10)
    ]
    spec = infer_spec(
        "t",
        write_batch("long.csv", rows),
        label="label",
        id_column="item",
        annotator_column="annotator",
    )
    assert "annotator" not in spec.columns
    assert spec.annotations.format == "long"
    assert spec.item_column == "item"


def test_types_are_inferred_from_the_first_rows_of_a_large_file(tmp_path) -> None:
    path = tmp_path / "large.csv"
    lines = ["amount,label", *(f"{i},{'ab'[i % 2]}" for i in range(INFERENCE_ROWS))]
    path.write_text("\n".join([*lines, "unknown,a"]) + "\n")
    spec = infer_spec("t", path, label="label")
    assert spec.columns["amount"] is ColumnType.numeric  # the last row was never read


def test_a_column_named_rowid_is_inferred_from_its_own_values(write_batch) -> None:
    """DuckDB has a `rowid` pseudo-column; the profile must read the file's column instead."""
    rows = [{"RowID": ["x", "y"][i % 2], "label": ["a", "b"][i % 3 == 0]} for i in range(50)]
    spec = infer_spec("t", write_batch("human.csv", rows), label="label")
    assert spec.columns["RowID"] is ColumnType.categorical  # DuckDB's row numbers: numeric
