"""Reading batch files into the staging table, and the errors of unreadable ones."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest

from validation_loop.errors import BatchRejected
from validation_loop.readers import detect_format, stage
from validation_loop.spec import DEFAULT_NULL_VALUES


def _stage(path: Path):
    return stage(duckdb.connect(), path, DEFAULT_NULL_VALUES)


def _rejection(path: Path):
    with pytest.raises(BatchRejected) as caught:
        _stage(path)
    assert caught.value.file_name == path.name
    return caught.value.rejection


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", ("csv", False)),
        ("a.CSV.gz", ("csv", True)),
        ("a.parquet", ("parquet", False)),
        ("a.pq", ("parquet", False)),
        ("a.jsonl.gz", ("jsonl", True)),
        ("a.ndjson", ("jsonl", False)),
    ],
)
def test_detect_format(name: str, expected: tuple[str, bool]) -> None:
    assert detect_format(Path(name)) == expected


@pytest.mark.parametrize("name", ["a.csv", "a.csv.gz", "a.parquet", "a.jsonl", "a.jsonl.gz"])
def test_each_format_stages_in_file_order(write_batch, name: str) -> None:
    con = duckdb.connect()
    staged = stage(con, write_batch(name), DEFAULT_NULL_VALUES)
    assert staged.row_count == 3
    assert list(staged.columns) == ["customer_id", "age", "region", "active", "signup", "churned"]
    ids = [r[0] for r in con.execute("SELECT customer_id FROM stage ORDER BY rowid").fetchall()]
    assert ids == ["c1", "c2", "c3"]


def test_csv_null_strings_become_null(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text('a,b\nNA,"x, ""quoted"""\n,null\n')
    con = duckdb.connect()
    stage(con, path, DEFAULT_NULL_VALUES)
    assert con.execute("SELECT a, b FROM stage ORDER BY rowid").fetchall() == [
        (None, 'x, "quoted"'),
        (None, None),
    ]


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "batch.xlsx"
    path.write_bytes(b"PK")
    rejection = _rejection(path)
    assert rejection.kind == "unknown_format"
    assert ".parquet" in rejection.message


@pytest.mark.parametrize("content", [b"", b"a,b\n"])
def test_empty_file_or_header_only(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    assert _rejection(path).kind == "empty"


def test_malformed_csv_names_line(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\n1,2,3\n4,5\n")
    rejection = _rejection(path)
    assert rejection.kind == "malformed_csv"
    assert rejection.line == 3
    assert "Expected Number of Columns: 3 Found: 2" in rejection.message


def test_unterminated_quote(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text('a,b\n1,"open\n')
    rejection = _rejection(path)
    assert rejection.kind == "malformed_csv"
    assert "unterminated quote" in rejection.message


def test_duplicate_header(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("a,b,a\n1,2,3\n")
    rejection = _rejection(path)
    assert (rejection.kind, rejection.column) == ("duplicate_column", "a")


@pytest.mark.parametrize("compressed", [False, True])
def test_wrong_encoding_names_line(tmp_path: Path, compressed: bool) -> None:
    data = "a,b\n1,ok\n2,café\n".encode("latin-1")
    path = tmp_path / ("latin.csv.gz" if compressed else "latin.csv")
    path.write_bytes(gzip.compress(data) if compressed else data)
    rejection = _rejection(path)
    assert rejection.kind == "encoding"
    assert rejection.line == 3
    assert "not UTF-8" in rejection.message


def test_wrong_encoding_in_header(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("âge,b\n1,2\n".encode("latin-1"))
    assert (_rejection(path).kind, _rejection(path).line) == ("encoding", 1)


def test_truncated_parquet(write_batch) -> None:
    path = write_batch("t.parquet")
    path.write_bytes(path.read_bytes()[:200])
    rejection = _rejection(path)
    assert rejection.kind == "unreadable_parquet"
    assert "Parquet" in rejection.message


def test_malformed_json_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{"a": 2,\n{"a": 3}\n')
    rejection = _rejection(path)
    assert (rejection.kind, rejection.line) == ("malformed_json", 2)


def test_json_encoding_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"a": "ok"}\n{"a": "caf\xe9"}\n')
    rejection = _rejection(path)
    assert (rejection.kind, rejection.line) == ("encoding", 2)


def test_json_record_must_be_object(tmp_path: Path) -> None:
    path = tmp_path / "arr.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n')
    rejection = _rejection(path)
    assert (rejection.kind, rejection.row) == ("malformed_json", 2)
