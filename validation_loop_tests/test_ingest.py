"""Ingestion: lineage, types, idempotence, quarantine of every kind of bad input."""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from validation_loop.cli import main
from validation_loop.conform import ValueChange
from validation_loop.errors import BatchRejected, FileVanished, ValidationLoopError
from validation_loop.home import Home
from validation_loop.ingest import batch_key, file_sha256, find_batch, ingest_file
from validation_loop.locks import file_lock
from validation_loop.spec import parse_spec, save_spec
from validation_loop.warehouse import Warehouse, list_batches, list_rejections
from validation_loop_tests.conftest import ROWS, SPEC
from validation_loop_tests.test_cli import env  # noqa: F401  (the CLI tests' home and Dagster)


def _warehouse_state(home: Home) -> tuple:
    """Everything a rejected batch must leave untouched."""
    with Warehouse(home.warehouse_path).read() as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables ORDER BY ALL"
        ).fetchall()
        batches = con.execute("SELECT * FROM batches ORDER BY batch_id").fetchall()
        rows = (
            con.execute("SELECT count(*) FROM churn.human").fetchone()
            if ("churn", "human") in tables
            else None
        )
    return tables, batches, rows


@pytest.mark.parametrize("name", ["b.csv", "b.csv.gz", "b.parquet", "b.jsonl", "b.jsonl.gz"])
def test_each_format_lands_typed_with_lineage(home, spec, write_batch, name) -> None:
    path = write_batch(name)
    outcome = ingest_file(home, spec, path, "human")
    assert outcome.new
    with Warehouse(home.warehouse_path).read() as con:
        rows = con.execute(
            "SELECT customer_id, age, region, active, signup, churned, _batch_id, _row "
            "FROM churn.human ORDER BY _row"
        ).fetchall()
        (batch,) = list_batches(con, "churn")
    sha = file_sha256(path)
    assert rows == [
        ("c1", 34.0, "north", True, datetime(2024, 1, 5), "no", batch_key("human", sha), 1),
        (
            "c2",
            51.5,
            "south",
            False,
            datetime(2024, 2, 11, 8, 30),
            "yes",
            batch_key("human", sha),
            2,
        ),
        ("c3", None, "south", None, None, "no", batch_key("human", sha), 3),
    ]
    assert batch["batch_id"] == f"human-{sha[:16]}"
    assert (batch["loop"], batch["source"], batch["file_name"]) == ("churn", "human", name)
    assert batch["sha256"] == sha
    assert batch["row_count"] == 3
    assert batch["generator_version"] is None
    assert batch["ingested_at"].tzinfo is not None
    assert outcome.stored_as == home.loop("churn").archive / "human" / batch["batch_id"] / name
    assert outcome.stored_as.read_bytes() == path.read_bytes()


def test_same_content_twice_is_one_batch(home, spec, write_batch) -> None:
    first = write_batch("monday.csv")
    again = write_batch("copy_of_monday.csv")
    assert ingest_file(home, spec, first, "human").new
    second = ingest_file(home, spec, again, "human")
    assert not second.new
    assert second.batch.file_name == "monday.csv"
    with Warehouse(home.warehouse_path).read() as con:
        assert len(list_batches(con, "churn")) == 1
        assert con.execute("SELECT count(*) FROM churn.human").fetchone() == (3,)


def test_same_content_as_other_source_is_another_batch(home, spec, write_batch) -> None:
    path = write_batch("b.csv")
    ingest_file(home, spec, path, "human")
    outcome = ingest_file(home, spec, path, "synthetic")
    assert outcome.new and outcome.batch.batch_id.startswith("synthetic-")


def test_landing_files_move_and_outside_files_are_copied(home, spec, write_batch) -> None:
    landing = home.loop("churn").landing("human")
    inside = write_batch("in.csv", folder=landing)
    outside = write_batch("out.csv", ROWS[:2])
    ingest_file(home, spec, inside, "human")
    ingest_file(home, spec, outside, "human")
    assert not inside.exists()
    assert outside.exists()


BAD_INPUTS = [
    # name, writer, kind, column, row, line
    ("empty.csv", lambda p: p.write_bytes(b""), "empty", None, None, None),
    ("notes.txt", lambda p: p.write_text("hello"), "unknown_format", None, None, None),
    (
        "ragged.csv",
        lambda p: p.write_text(
            "customer_id,age,region,active,signup,churned\nc1,3,n,yes,2024-01-01,no\nc2,4\n"
        ),
        "malformed_csv",
        None,
        None,
        3,
    ),
    (
        "latin.csv",
        lambda p: p.write_bytes(
            "customer_id,age,region,active,signup,churned\nc1,3,Zürich,yes,2024-01-01,no\n".encode(
                "latin-1"
            )
        ),
        "encoding",
        None,
        None,
        2,
    ),
    (
        "nolabel.csv",
        lambda p: p.write_text("customer_id,age,region,active,signup\nc1,3,n,yes,2024-01-01\n"),
        "missing_column",
        "churned",
        None,
        None,
    ),
    (
        "badage.csv",
        lambda p: p.write_text(
            "customer_id,age,region,active,signup,churned\nc1,3,n,yes,2024-01-01,no\n"
            "c2,forty,n,yes,2024-01-01,no\n"
        ),
        "bad_value",
        "age",
        2,
        None,
    ),
    (
        "badbool.csv",
        lambda p: p.write_text(
            "customer_id,age,region,active,signup,churned\nc1,3,n,maybe,2024-01-01,no\n"
        ),
        "bad_value",
        "active",
        1,
        None,
    ),
    (
        "baddate.csv",
        lambda p: p.write_text(
            "customer_id,age,region,active,signup,churned\nc1,3,n,yes,2024-01-01,no\n"
            "c2,3,n,yes,2024-01-01,no\nc3,3,n,yes,yesterday,no\n"
        ),
        "bad_value",
        "signup",
        3,
        None,
    ),
    (
        "dupid.csv",
        lambda p: p.write_text(
            "customer_id,age,region,active,signup,churned\nc1,3,n,yes,2024-01-01,no\n"
            "c2,3,n,yes,2024-01-01,no\nc1,5,s,no,2024-01-01,yes\n"
        ),
        "duplicate_id",
        "customer_id",
        3,
        None,
    ),
    (
        "nulllabel.csv",
        lambda p: p.write_text(
            "customer_id,age,region,active,signup,churned\nc1,3,n,yes,2024-01-01,\n"
        ),
        "missing_label",
        "churned",
        1,
        None,
    ),
    ("cut.parquet", None, "unreadable_parquet", None, None, None),
]


@pytest.mark.parametrize(
    ("name", "writer", "kind", "column", "row", "line"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_is_quarantined_with_reason(
    home, spec, write_batch, tmp_path, name, writer, kind, column, row, line
) -> None:
    ingest_file(home, spec, write_batch("good.csv"), "human")
    before = _warehouse_state(home)
    landing = home.loop("churn").landing("human")
    path = landing / name
    if writer is None:  # a Parquet file cut short
        good = write_batch("whole.parquet")
        path.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    else:
        writer(path)
    content = path.read_bytes()

    with pytest.raises(BatchRejected) as caught:
        ingest_file(home, spec, path, "human")

    rejection = caught.value.rejection
    assert (rejection.kind, rejection.column, rejection.row, rejection.line) == (
        kind,
        column,
        row,
        line,
    )
    message = str(caught.value)
    assert message.startswith(f"{name}: ")
    if column:
        assert f"column {column!r}" in message
    if row:
        assert f"row {row}" in message
    quarantined = home.loop("churn").quarantine / name
    assert not path.exists()
    assert quarantined.read_bytes() == content
    report = json.loads((quarantined.parent / f"{name}.error.json").read_text())
    assert report["file"] == name
    assert report["message"] == message
    assert report["error"]["kind"] == kind
    assert report["sha256"] == file_sha256(quarantined)
    assert _warehouse_state(home) == before
    with Warehouse(home.warehouse_path).read() as con:
        (recorded,) = list_rejections(con, "churn")
    assert (recorded["file_name"], recorded["kind"], recorded["column_name"]) == (
        name,
        kind,
        column,
    )


def test_rejecting_the_same_file_twice_keeps_one_record(home, spec, tmp_path) -> None:
    for _ in range(2):
        path = tmp_path / "empty.csv"
        path.write_bytes(b"")
        with pytest.raises(BatchRejected):
            ingest_file(home, spec, path, "human")
    with Warehouse(home.warehouse_path).read() as con:
        assert len(list_rejections(con, "churn")) == 1


def test_cast_error_counts_every_failing_row(home, spec, write_batch) -> None:
    rows = [dict(ROWS[0], customer_id=f"c{i}", age="old") for i in range(4)]
    with pytest.raises(BatchRejected, match=r"row 1: value 'old' is not numeric \(4 rows fail\)"):
        ingest_file(home, spec, write_batch("b.csv", rows), "human")


def test_extra_columns_dropped_with_warning(home, spec, write_batch) -> None:
    rows = [dict(r, notes="x", score=1) for r in ROWS]
    outcome = ingest_file(home, spec, write_batch("extra.parquet", rows), "human")
    assert outcome.batch.warnings == ["dropped 2 column(s) not in the spec: notes, score"]
    with Warehouse(home.warehouse_path).read() as con:
        columns = [r[0] for r in con.execute("DESCRIBE churn.human").fetchall()]
        (batch,) = list_batches(con, "churn")
    assert "notes" not in columns
    assert batch["warnings"] == outcome.batch.warnings


def test_extra_columns_rejected_when_strict(home, write_batch) -> None:
    strict = parse_spec({**SPEC, "strict_columns": True}, "x")
    rows = [dict(r, notes="x") for r in ROWS]
    with pytest.raises(BatchRejected, match="column 'notes': column is not in the spec"):
        ingest_file(home, strict, write_batch("extra.csv", rows), "human")


def test_synthetic_batches_need_no_id(home, spec, write_batch) -> None:
    rows = [{k: v for k, v in r.items() if k != "customer_id"} for r in ROWS]
    outcome = ingest_file(home, spec, write_batch("gen.csv", rows), "synthetic", "v7")
    assert outcome.batch.generator_version == "v7"
    with Warehouse(home.warehouse_path).read() as con:
        assert con.execute(
            "SELECT count(*), count(customer_id) FROM churn.synthetic"
        ).fetchone() == (3, 0)


def test_generator_version_from_sidecar_then_current_config(home, spec, write_batch) -> None:
    layout = home.loop("churn")
    with_sidecar = write_batch("a.csv", ROWS[:1], folder=layout.landing("synthetic"))
    with_sidecar.with_name("a.csv.meta.json").write_text('{"generator_version": "v0002"}')
    (layout.generator / "v0001.yaml").write_text("{}")
    (layout.generator / "v0003.yaml").write_text("{}")  # a proposal: not current
    plain = write_batch("b.csv", ROWS[1:], folder=layout.landing("synthetic"))
    assert ingest_file(home, spec, with_sidecar, "synthetic").batch.generator_version == "v0002"
    assert ingest_file(home, spec, plain, "synthetic").batch.generator_version == "v0001"
    (layout.generator / "CURRENT").write_text("v0003\n")
    third = write_batch("c.csv", ROWS[:2], folder=layout.landing("synthetic"))
    assert ingest_file(home, spec, third, "synthetic").batch.generator_version == "v0003"
    archived = list((layout.archive / "synthetic").glob("*/a.csv.meta.json"))
    assert len(archived) == 1


def test_changed_column_type_is_refused_not_quarantined(home, spec, write_batch) -> None:
    ingest_file(home, spec, write_batch("a.csv"), "human")
    changed = parse_spec({**SPEC, "columns": {**SPEC["columns"], "age": "categorical"}}, "x")
    save_spec(changed, home.loop("churn").spec_path)
    path = write_batch("b.csv", ROWS[:2])
    with pytest.raises(ValidationLoopError, match="'age' as VARCHAR, but the warehouse"):
        ingest_file(home, changed, path, "human")
    assert path.exists()


def test_new_spec_column_is_added_to_the_table(home, spec, write_batch) -> None:
    ingest_file(home, spec, write_batch("a.csv"), "human")
    wider = parse_spec({**SPEC, "columns": {**SPEC["columns"], "plan": "categorical"}}, "x")
    ingest_file(home, wider, write_batch("b.csv", [dict(r, plan="pro") for r in ROWS]), "human")
    with Warehouse(home.warehouse_path).read() as con:
        assert con.execute("SELECT count(plan), count(*) FROM churn.human").fetchone() == (3, 6)


LONG = {**SPEC, "annotations": {"format": "long", "annotator_column": "annotator"}}


def _judgements(item: str, labels: list[str], region: str = "north") -> list[dict]:
    return [
        {
            "customer_id": item,
            "annotator": f"a{i}",
            "age": 30,
            "region": region,
            "active": "yes",
            "signup": "2024-01-01",
            "churned": label,
        }
        for i, label in enumerate(labels)
    ]


def test_long_format_keeps_judgements_and_takes_majority(home, write_batch) -> None:
    spec = parse_spec(LONG, "x")
    rows = _judgements("c1", ["yes", "no", "yes"]) + _judgements("c2", ["yes", "no"])
    outcome = ingest_file(home, spec, write_batch("long.csv", rows), "human")
    assert (outcome.batch.row_count, outcome.batch.judgement_count) == (2, 5)
    assert outcome.batch.annotation_format == "long"
    with Warehouse(home.warehouse_path).read() as con:
        items = con.execute("SELECT customer_id, churned, _row FROM churn.human ORDER BY 1")
        assert items.fetchall() == [("c1", "yes", 1), ("c2", "no", 4)]  # tie -> smallest label
        judgements = con.execute(
            "SELECT item_id, annotator_id, label, _row FROM churn.judgements ORDER BY _row"
        ).fetchall()
    assert judgements[:3] == [("c1", "a0", "yes", 1), ("c1", "a1", "no", 2), ("c1", "a2", "yes", 3)]
    assert len(judgements) == 5


def test_long_format_rejects_repeated_judgement(home, write_batch) -> None:
    spec = parse_spec(LONG, "x")
    rows = _judgements("c1", ["yes", "no"]) + _judgements("c1", ["no"])
    with pytest.raises(BatchRejected) as caught:
        ingest_file(home, spec, write_batch("long.csv", rows), "human")
    assert caught.value.rejection.kind == "duplicate_judgement"
    assert "customer_id='c1', annotator='a0' appears 2 times (rows 1, 3)" in str(caught.value)


def test_long_format_rejects_item_with_conflicting_features(home, write_batch) -> None:
    spec = parse_spec(LONG, "x")
    conflicting = dict(_judgements("c1", ["no"])[0], annotator="b", region="south")
    rows = [*_judgements("c1", ["yes"]), conflicting]
    with pytest.raises(BatchRejected, match="column 'region', row 1: item 'c1' has different"):
        ingest_file(home, spec, write_batch("long.csv", rows), "human")


def test_missing_file_is_vanished(home, spec, tmp_path: Path) -> None:
    with pytest.raises(FileVanished, match=r"nope\.csv: no such file"):
        ingest_file(home, spec, tmp_path / "nope.csv", "human")


def test_the_first_bad_column_of_a_wide_file_is_named(home, tmp_path: Path) -> None:
    """More columns than one scan takes: the check runs in chunks, in column order."""
    names = [f"f{i:03d}" for i in range(600)]
    spec = parse_spec(
        {
            "name": "wide",
            "task": "classification",
            "label": "y",
            "columns": {**dict.fromkeys(names, "numeric"), "y": "categorical"},
        },
        "test",
    )
    save_spec(spec, home.loop("wide").spec_path)
    rows = [[str(r + c) for c in range(600)] + ["a"] for r in range(5)]
    rows[3][250], rows[1][520], rows[4][520] = "x250", "x520", "y520"
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(",".join(row) for row in [[*names, "y"], *rows]) + "\n")
    with pytest.raises(BatchRejected) as caught:
        ingest_file(home, spec, path, "human")
    assert "column 'f250', row 4: value 'x250' is not numeric" in str(caught.value)
    path.write_text(path.read_text().replace("x250", "250"))
    with pytest.raises(BatchRejected) as caught:
        ingest_file(home, spec, path, "human")
    assert "column 'f520', row 2: value 'x520' is not numeric (2 rows fail)" in str(caught.value)


# Issue 12: no value changed without a warning, every failure a rejection or a skip.

OFFSETS = ["2024-01-01T00:00:00+02:00", "2024-01-01T00:00:00-05:00", "2024-01-01T00:00:00Z"]
INGEST_CHILD = """
import json, sys
from pathlib import Path
from validation_loop.home import Home
from validation_loop.ingest import ingest_file
from validation_loop.spec import load_spec
home = Home(Path(sys.argv[1]))
spec = load_spec(home.loop("churn").spec_path)
outcomes = {f: ingest_file(home, spec, Path(f), "human").batch.to_dict() for f in sys.argv[2:]}
print(json.dumps(outcomes))
"""


def _utc(text: str) -> datetime:
    """The UTC wall-clock time of an ISO 8601 instant, by Python's own parser."""
    return datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)


def _stored(home: Home, column: str, batch_id: str) -> list:
    """One column of a stored human batch, in file order."""
    with Warehouse(home.warehouse_path).read() as con:
        rows = con.execute(
            f"SELECT {column} FROM churn.human WHERE _batch_id = ? ORDER BY _row", [batch_id]
        ).fetchall()
    return [r[0] for r in rows]


def test_offsets_are_stored_in_utc_whatever_the_machine_zone(home, spec, write_batch) -> None:
    """Ingested by a process whose local zone is Asia/Kolkata: values with an offset are stored
    as their UTC time, values without one as written; CSV, JSON Lines and Parquet alike."""
    expected = [_utc(s) for s in OFFSETS]
    assert expected == [datetime(2023, 12, 31, 22), datetime(2024, 1, 1, 5), datetime(2024, 1, 1)]
    rows = [dict(ROWS[0], customer_id=f"c{i}", signup=s) for i, s in enumerate(OFFSETS)]
    aware = pd.to_datetime(OFFSETS, utc=True).tz_convert("America/New_York")
    files = {
        "offsets.csv": (rows, expected, 3),
        "offsets.jsonl": (rows, expected, 3),
        "offsets.parquet": (rows, expected, 3),  # offsets as text
        "aware.parquet": (  # a TIMESTAMP column adjusted to UTC (isAdjustedToUTC)
            [dict(r, signup=t) for r, t in zip(rows, aware, strict=True)],
            expected,
            0,
        ),
        "naive.csv": (
            [dict(r, signup="2024-01-01 00:00:00") for r in rows],
            [datetime(2024, 1, 1)] * 3,
            0,
        ),
    }
    paths = [str(write_batch(name, file_rows)) for name, (file_rows, _, _) in files.items()]
    child = subprocess.run(
        [sys.executable, "-c", INGEST_CHILD, str(home.root), *paths],
        env={**os.environ, "TZ": "Asia/Kolkata"},
        capture_output=True,
        text=True,
        check=True,
    )
    batches = {Path(p).name: b for p, b in json.loads(child.stdout).items()}
    for name, (_, instants, converted) in files.items():
        batch = batches[name]
        assert _stored(home, "signup", batch["batch_id"]) == instants, name
        changes = [{"column": "signup", "kind": "to_utc", "count": 3, "first_row": 1}]
        assert batch["value_changes"] == (changes if converted else []), name
        if converted:
            assert (
                "column 'signup': 3 value(s) with a UTC offset or time zone converted to UTC "
                "(first at row 1)" in batch["warnings"]
            )


@pytest.mark.parametrize("name", ["mixed.csv", "mixed.jsonl"])
@pytest.mark.parametrize(
    ("signups", "row", "words"),
    [
        (
            ["2024-01-01 08:00:00", "2024-01-02 08:00:00", "2024-01-03T08:00:00+01:00"],
            3,
            "value '2024-01-03T08:00:00+01:00' has a UTC offset, but row 1 has none",
        ),
        (
            ["2024-01-01T08:00:00Z", "2024-01-02 08:00:00"],
            2,
            "value '2024-01-02 08:00:00' has no UTC offset, but row 1 has one",
        ),
    ],
)
def test_offsets_mixed_with_naive_values_are_rejected(
    home, spec, write_batch, name, signups, row, words
) -> None:
    rows = [dict(ROWS[0], customer_id=f"c{i}", signup=s) for i, s in enumerate(signups)]
    with pytest.raises(BatchRejected) as caught:
        ingest_file(home, spec, write_batch(name, rows), "human")
    rejection = caught.value.rejection
    assert (rejection.kind, rejection.column, rejection.row) == ("mixed_time_zones", "signup", row)
    assert str(caught.value).startswith(f"{name}: column 'signup', row {row}: {words}")
    assert (home.loop("churn").quarantine / f"{name}.error.json").is_file()


AGES = ["30", "NaN", "inf", "-inf", "1e309"]


def _write_non_finite(folder: Path, fmt: str) -> Path:
    """A batch whose `age` is 30 then NaN, infinity, minus infinity and an overflow."""
    rows = [dict(ROWS[0], customer_id=f"c{i}", age=a) for i, a in enumerate(AGES)]
    path = folder / f"ages.{fmt}"
    if fmt == "csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    elif fmt == "jsonl":  # bare JSON tokens, as Python's json and JavaScript write them
        tokens = ["30", "NaN", "Infinity", "-Infinity", "1e309"]
        lines = [
            json.dumps(dict(r, age=0)).replace('"age": 0', f'"age": {t}')
            for r, t in zip(rows, tokens, strict=True)
        ]
        path.write_text("\n".join(lines) + "\n")
    else:  # float NaN kept as NaN, not turned into null as pandas would
        pq.write_table(pa.Table.from_pylist([dict(r, age=float(r["age"])) for r in rows]), path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_non_finite_numbers_are_kept_as_missing_and_counted(home, spec, tmp_path, fmt) -> None:
    outcome = ingest_file(home, spec, _write_non_finite(tmp_path, fmt), "human")
    batch = outcome.batch
    assert _stored(home, "age", batch.batch_id) == [30.0, None, None, None, None]
    assert batch.value_changes == [ValueChange("age", "non_finite", 4, 2)]
    assert (
        "column 'age': 4 NaN, infinite or out-of-range value(s) stored as missing "
        "(first at row 2)" in batch.warnings
    )
    with Warehouse(home.warehouse_path).read() as con:
        (row,) = list_batches(con, "churn")
        assert find_batch(con, "churn", batch.batch_id) == batch
    assert row["value_changes"] == [
        {"column": "age", "kind": "non_finite", "count": 4, "first_row": 2}
    ]
    assert row["warnings"] == batch.warnings


def test_underflow_and_sub_microsecond_digits_are_counted(home, spec, write_batch) -> None:
    rows = [
        dict(ROWS[0], customer_id="c1", age="0.0", signup="2024-01-01 00:00:00.123456000"),
        dict(ROWS[0], customer_id="c2", age="1e-400", signup="2024-01-01 00:00:00.123456789"),
    ]
    batch = ingest_file(home, spec, write_batch("tiny.csv", rows), "human").batch
    assert _stored(home, "age", batch.batch_id) == [0.0, 0.0]
    assert _stored(home, "signup", batch.batch_id) == [datetime(2024, 1, 1, 0, 0, 0, 123456)] * 2
    assert batch.value_changes == [
        ValueChange("age", "underflow", 1, 2),
        ValueChange("signup", "sub_microsecond", 1, 2),
    ]


def test_parquet_nanoseconds_are_counted(home, spec, write_batch) -> None:
    stamps = pd.to_datetime(["2024-01-01 00:00:00.000001", "2024-01-01 00:00:00.000001001"])
    rows = [dict(ROWS[0], customer_id=f"c{i}", signup=t) for i, t in enumerate(stamps)]
    batch = ingest_file(home, spec, write_batch("ns.parquet", rows), "human").batch
    assert _stored(home, "signup", batch.batch_id) == [datetime(2024, 1, 1, 0, 0, 0, 1)] * 2
    assert batch.value_changes == [ValueChange("signup", "sub_microsecond", 1, 2)]


def test_truncated_jsonl_gz_is_quarantined_with_its_line(home, spec, write_batch) -> None:
    ingest_file(home, spec, write_batch("good.csv"), "human")
    before = _warehouse_state(home)
    rows = [dict(ROWS[0], customer_id=f"c{i}", age=i) for i in range(3000)]
    whole = write_batch("whole.jsonl.gz", rows).read_bytes()
    cut = whole[: len(whole) // 2]
    path = home.loop("churn").landing("human") / "cut.jsonl.gz"
    path.write_bytes(cut)
    line = zlib.decompressobj(wbits=31).decompress(cut).count(b"\n") + 1  # the line cut short

    with pytest.raises(BatchRejected) as caught:
        ingest_file(home, spec, path, "human")

    assert (caught.value.rejection.kind, caught.value.rejection.line) == ("bad_compression", line)
    assert str(caught.value).startswith(f"cut.jsonl.gz: line {line}: the gzip stream ends early")
    quarantined = home.loop("churn").quarantine / "cut.jsonl.gz"
    assert quarantined.read_bytes() == cut and not path.exists()
    report = json.loads((quarantined.parent / "cut.jsonl.gz.error.json").read_text())
    assert (report["file"], report["error"]["line"]) == ("cut.jsonl.gz", line)
    assert _warehouse_state(home) == before
    with Warehouse(home.warehouse_path).read() as con:
        (recorded,) = list_rejections(con, "churn")
    assert (recorded["file_name"], recorded["kind"]) == ("cut.jsonl.gz", "bad_compression")


LONG_NAME = "s" * 246 + ".csv"  # 250 bytes: `.meta.json` or `.error.json` added passes 255


def test_long_named_synthetic_file_is_ingested(home, spec, write_batch) -> None:
    rows = [{k: v for k, v in r.items() if k != "customer_id"} for r in ROWS]
    path = write_batch(LONG_NAME, rows, folder=home.loop("churn").landing("synthetic"))
    outcome = ingest_file(home, spec, path, "synthetic")
    assert outcome.new and outcome.batch.file_name == LONG_NAME
    assert outcome.stored_as is not None and outcome.stored_as.name == LONG_NAME
    assert outcome.stored_as.is_file() and not path.exists()


@pytest.mark.parametrize(
    ("name", "extension"),
    [(LONG_NAME, ".csv"), ("ü" * 120 + ".csv.gz", ".csv.gz")],  # 250 and 247 bytes
    ids=["ascii", "two-byte-characters"],
)
def test_long_named_bad_file_is_quarantined_under_a_name_that_fits(
    home, spec, name, extension
) -> None:
    content = b"customer_id\nc1\n"  # no label column
    if extension.endswith(".gz"):
        content = gzip.compress(content)
    quarantine = home.loop("churn").quarantine
    for _ in range(2):  # the second time replaces the first: same names, one record
        path = home.loop("churn").landing("human") / name
        path.write_bytes(content)
        with pytest.raises(BatchRejected) as caught:
            ingest_file(home, spec, path, "human")
        assert str(caught.value).startswith(f"{name}: column 'age': required column is missing")
        kept, error = sorted(quarantine.iterdir(), key=lambda p: len(p.name))
        assert error.name == kept.name + ".error.json"
        assert len(error.name.encode()) <= 255
        assert kept.name.endswith(extension) and name.startswith(kept.name[:100])
        assert kept.read_bytes() == content
        report = json.loads(error.read_text())
        assert (report["file"], report["quarantined_as"]) == (name, kept.name)
    with Warehouse(home.warehouse_path).read() as con:
        (recorded,) = list_rejections(con, "churn")
    assert (recorded["file_name"], recorded["quarantined_as"]) == (name, str(kept))


class _LockWaits(logging.Handler):
    """Sets `waiting` when a thread of this process starts waiting for a file lock."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "locked by another process; waiting" in record.getMessage():
            self.waiting.set()


@pytest.fixture
def lock_waits() -> Iterator[threading.Event]:
    """An event set once any code here waits for a file lock another holder has."""
    handler = _LockWaits()
    logger = logging.getLogger("validation_loop.locks")
    logger.addHandler(handler)
    try:
        yield handler.waiting
    finally:
        logger.removeHandler(handler)


def test_file_removed_while_ingest_waits_for_the_warehouse_is_skipped(
    home, spec, write_batch, lock_waits
) -> None:
    """Hashed, then held at the warehouse lock while the file is deleted: a skip, and nothing
    stored, quarantined or recorded."""
    path = write_batch("b.csv", folder=home.loop("churn").landing("human"))
    raised: list[BaseException] = []

    def ingest() -> None:
        try:
            ingest_file(home, spec, path, "human")
        except BaseException as exc:
            raised.append(exc)

    warehouse = Warehouse(home.warehouse_path)
    with file_lock(warehouse.lock_path, exclusive=True, timeout=5, holder="test"):
        worker = threading.Thread(target=ingest)
        worker.start()
        assert lock_waits.wait(timeout=120)
        path.unlink()
    worker.join()
    assert len(raised) == 1 and isinstance(raised[0], FileVanished)
    assert list(home.loop("churn").quarantine.iterdir()) == []
    with warehouse.read() as con:
        assert list_batches(con, "churn") == [] and list_rejections(con, "churn") == []


@pytest.mark.usefixtures("env")
def test_cli_skips_a_file_named_twice_and_prints_changed_values(
    spec, home, write_batch, capsys
) -> None:
    twice = write_batch("twice.csv", folder=home.loop("churn").landing("human"))
    rows = [
        dict(ROWS[0], customer_id=f"c{i}", age=age, signup=OFFSETS[i % 3])
        for i, age in enumerate(AGES)
    ]
    changed = write_batch("changes.csv", rows)
    args = ["ingest", "churn", "--source", "human", str(twice), str(twice), str(changed)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "ingested twice.csv as human-" in captured.out
    assert "skipped twice.csv: named twice in one command" in captured.err
    assert "ingested changes.csv as human-" in captured.out
    assert (
        "  warning: column 'age': 4 NaN, infinite or out-of-range value(s) stored as missing "
        "(first at row 2)" in captured.out
    )
    assert "  warning: column 'signup': 5 value(s) with a UTC offset" in captured.out
    assert "Traceback" not in captured.err and "rejected" not in captured.err


@pytest.mark.usefixtures("env")
def test_cli_long_name_is_ingested_and_truncated_gzip_rejected(
    spec, home, write_batch, capsys
) -> None:
    rows = [{k: v for k, v in r.items() if k != "customer_id"} for r in ROWS]
    long = write_batch(LONG_NAME, rows)
    whole = write_batch("whole.jsonl.gz", rows * 500).read_bytes()
    cut = long.with_name("cut.jsonl.gz")
    cut.write_bytes(whole[: len(whole) // 2])
    line = zlib.decompressobj(wbits=31).decompress(cut.read_bytes()).count(b"\n") + 1
    assert main(["ingest", "churn", "--source", "synthetic", str(long), str(cut)]) == 2
    captured = capsys.readouterr()
    assert f"ingested {LONG_NAME} as synthetic-" in captured.out
    assert (
        f"rejected cut.jsonl.gz: line {line}: the gzip stream ends early: the file was cut short"
        in captured.err
    )
    quarantine = home.loop("churn").quarantine
    assert sorted(p.name for p in quarantine.iterdir()) == [
        "cut.jsonl.gz",
        "cut.jsonl.gz.error.json",
    ]
    assert "Traceback" not in captured.err


@pytest.mark.usefixtures("env")
def test_cli_skips_a_file_that_vanishes_mid_ingest(
    spec, home, write_batch, capsys, lock_waits
) -> None:
    """The file is deleted while the ingest waits for the warehouse (a sensor's run moving it
    does the same): a skip line, and the exit code of the other file's ingest."""
    gone = write_batch("gone.csv", folder=home.loop("churn").landing("human"))
    kept = write_batch("kept.csv", ROWS[:2])
    deleted = threading.Event()
    held = threading.Event()

    def hold_the_warehouse() -> None:
        with file_lock(Warehouse(home.warehouse_path).lock_path, True, 120, "test"):
            held.set()
            if lock_waits.wait(timeout=120):
                gone.unlink()
                deleted.set()

    holder = threading.Thread(target=hold_the_warehouse)
    holder.start()
    assert held.wait(timeout=120)
    code = main(["ingest", "churn", "--source", "human", str(gone), str(kept)])
    holder.join()
    assert deleted.is_set()
    captured = capsys.readouterr()
    assert code == 0
    assert (
        "skipped gone.csv: no such file (moved or deleted before it could be read)" in captured.err
    )
    assert "ingested kept.csv as human-" in captured.out
    assert "Traceback" not in captured.err and "rejected" not in captured.err


def test_a_header_without_line_breaks_is_rejected_unread(home, spec, tmp_path) -> None:
    """A 3 MiB first line (a file with no line break, say) is rejected after reading just past
    DuckDB's own line limit, not read whole."""
    path = tmp_path / "one_line.csv"
    path.write_text(",".join(f"column_{i}" for i in range(300_000)))
    assert path.stat().st_size > 3 * 2**20
    with pytest.raises(BatchRejected) as rejected:
        ingest_file(home, spec, path, "human")
    assert rejected.value.rejection.kind == "malformed_csv"
    assert rejected.value.rejection.line == 1
    assert "the header is longer than 2097152 bytes" in str(rejected.value)


def test_duckdb_out_of_memory_is_not_the_files_fault(home, write_batch) -> None:
    """16MB is below the 30.5 MiB buffer DuckDB's CSV reader always takes: the ingest fails
    with what to change, and the file stays in landing, neither quarantined nor recorded (it
    used to be quarantined as malformed CSV)."""
    spec = parse_spec({**SPEC, "resources": {"duckdb_memory": "16MB"}}, "test")
    save_spec(spec, home.loop("churn").spec_path)
    path = write_batch("good.csv", folder=home.loop("churn").landing("human"))
    with pytest.raises(ValidationLoopError) as failed:
        ingest_file(home, spec, path, "human")
    assert not isinstance(failed.value, BatchRejected)
    assert "Out of Memory" in str(failed.value)
    assert "raise the loop's resources.duckdb_memory" in str(failed.value)
    assert path.is_file()
    quarantine = home.loop("churn").quarantine
    assert not quarantine.exists() or not any(quarantine.iterdir())
    with Warehouse(home.warehouse_path).read() as con:
        assert list_rejections(con, "churn") == [] and list_batches(con, "churn") == []


@pytest.mark.parametrize("name", ["rowid.csv", "rowid.jsonl", "rowid.parquet"])
def test_a_spec_column_named_rowid_is_stored_with_its_values(home, write_batch, name) -> None:
    """`RowID` would hide DuckDB's row number in the staged table (a binder error, once): its
    values are stored as written, the rows numbered as ever, and a bad one is named."""
    spec = parse_spec({**SPEC, "columns": {**SPEC["columns"], "RowID": "numeric"}}, "x")
    rows = [dict(r, RowID=str(10 * (i + 1))) for i, r in enumerate(ROWS)]
    batch = ingest_file(home, spec, write_batch(name, rows), "human").batch
    with Warehouse(home.warehouse_path).read() as con:
        stored = con.execute(
            'SELECT customer_id, "RowID", _row FROM churn.human WHERE _batch_id = ? ORDER BY _row',
            [batch.batch_id],
        ).fetchall()
    assert stored == [("c1", 10.0, 1), ("c2", 20.0, 2), ("c3", 30.0, 3)]
    rows[1]["RowID"] = "twenty"
    with pytest.raises(BatchRejected) as caught:
        ingest_file(home, spec, write_batch("bad_" + name, rows), "human")
    assert str(caught.value).endswith("column 'RowID', row 2: value 'twenty' is not numeric")


NO_SECONDS = ["2024-01-01T10:00+05:30", "2024-01-01 10:00Z", "2024-01-01T10:00-0130"]


@pytest.mark.parametrize("name", ["minutes.csv", "minutes.jsonl"])
def test_datetimes_with_an_offset_but_no_seconds_are_stored_in_utc(
    home, spec, write_batch, name
) -> None:
    """ISO 8601 allows leaving out the seconds; DuckDB's casts do not, where an offset follows."""
    rows = [dict(ROWS[0], customer_id=f"c{i}", signup=s) for i, s in enumerate(NO_SECONDS)]
    batch = ingest_file(home, spec, write_batch(name, rows), "human").batch
    expected = [datetime.fromisoformat(s).astimezone(UTC).replace(tzinfo=None) for s in NO_SECONDS]
    assert expected == [
        datetime(2024, 1, 1, 4, 30),
        datetime(2024, 1, 1, 10),
        datetime(2024, 1, 1, 11, 30),
    ]
    assert _stored(home, "signup", batch.batch_id) == expected
    assert batch.value_changes == [ValueChange("signup", "to_utc", 3, 1)]


@pytest.mark.parametrize("word", ["epoch", "infinity", "-infinity", " Infinity ", "inf", "-INF"])
def test_the_words_duckdb_casts_to_timestamps_are_bad_datetimes(home, spec, write_batch, word):
    """DuckDB casts `epoch` to 1970-01-01 and `infinity` to a timestamp past any date: neither
    is a date a person wrote, so the batch is rejected, naming the row and column."""
    signups = ["2024-01-01", word, "2024-01-03"]
    rows = [dict(ROWS[0], customer_id=f"c{i}", signup=s) for i, s in enumerate(signups)]
    with pytest.raises(BatchRejected) as caught:
        ingest_file(home, spec, write_batch("words.csv", rows), "human")
    rejection = caught.value.rejection
    assert (rejection.kind, rejection.column, rejection.row) == ("bad_value", "signup", 2)
    assert rejection.message == f"value {word!r} is not datetime"
