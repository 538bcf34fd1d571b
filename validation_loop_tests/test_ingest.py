"""Ingestion: lineage, types, idempotence, quarantine of every kind of bad input."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from validation_loop.errors import BatchRejected, ValidationLoopError
from validation_loop.home import Home
from validation_loop.ingest import batch_key, file_sha256, ingest_file
from validation_loop.spec import parse_spec, save_spec
from validation_loop.warehouse import Warehouse, list_batches, list_rejections
from validation_loop_tests.conftest import ROWS, SPEC


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


def test_nan_numbers_are_stored_as_missing(home, spec, tmp_path) -> None:
    path = tmp_path / "nan.jsonl"
    path.write_text(
        '{"customer_id": "c1", "age": NaN, "region": "n", "active": true, '
        '"signup": "2024-01-01", "churned": "no"}\n'
    )
    ingest_file(home, spec, path, "human")
    with Warehouse(home.warehouse_path).read() as con:
        assert con.execute("SELECT age, active FROM churn.human").fetchall() == [(None, True)]


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


def test_missing_file_is_an_error(home, spec, tmp_path: Path) -> None:
    with pytest.raises(ValidationLoopError, match="no such file"):
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
