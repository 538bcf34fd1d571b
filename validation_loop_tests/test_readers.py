"""Reading batch files into the staging table, and the errors of unreadable ones."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import duckdb
import pytest

from validation_loop.errors import BatchRejected, FileVanished
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


def test_json_nan_is_read_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "nan.jsonl"
    path.write_text('{"a": 1.5}\n{"a": NaN}\n')
    con = duckdb.connect()
    stage(con, path, DEFAULT_NULL_VALUES)
    assert con.execute("SELECT a FROM stage ORDER BY rowid").fetchall() == [("1.5",), ("NaN",)]


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


LATIN = "a,b\n1,ok\n2,café\n".encode("latin-1")
BAD_FILES = [
    # name, content, kind, line, row, column, words in the message
    (
        "ragged.csv",
        b"a,b,c\n1,2,3\n4,5\n",
        "malformed_csv",
        3,
        None,
        None,
        "Expected Number of Columns: 3 Found: 2",
    ),
    ("quote.csv", b'a,b\n1,"open\n', "malformed_csv", 2, None, None, "unterminated quote"),
    ("dup.csv", b"a,b,a\n1,2,3\n", "duplicate_column", None, None, "a", "twice"),
    ("blank.csv", b"a,,c\n1,2,3\n", "malformed_csv", 1, None, None, "header field 2 is blank"),
    ("latin.csv", LATIN, "encoding", 3, None, None, "not UTF-8"),
    ("latin.csv.gz", gzip.compress(LATIN), "encoding", 3, None, None, "not UTF-8"),
    ("header.csv", "âge,b\n1,2\n".encode("latin-1"), "encoding", 1, None, None, "not UTF-8"),
    (
        "bad.jsonl",
        b'{"a": 1}\n{"a": 2,\n{"a": 3}\n',
        "malformed_json",
        2,
        None,
        None,
        "malformed JSON",
    ),
    ("latin.jsonl", b'{"a": "ok"}\n{"a": "caf\xe9"}\n', "encoding", 2, None, None, "not UTF-8"),
    ("arr.jsonl", b'{"a": 1}\n[1, 2]\n', "malformed_json", None, 2, None, "not a JSON object"),
]


@pytest.mark.parametrize(
    ("name", "content", "kind", "line", "row", "column", "words"),
    BAD_FILES,
    ids=[b[0] for b in BAD_FILES],
)
def test_unreadable_file_names_the_place(tmp_path, name, content, kind, line, row, column, words):
    path = tmp_path / name
    path.write_bytes(content)
    rejection = _rejection(path)
    assert (rejection.kind, rejection.line, rejection.row, rejection.column) == (
        kind,
        line,
        row,
        column,
    )
    assert words in rejection.message


def test_truncated_parquet(write_batch) -> None:
    path = write_batch("t.parquet")
    path.write_bytes(path.read_bytes()[:200])
    rejection = _rejection(path)
    assert rejection.kind == "unreadable_parquet"
    assert "Parquet" in rejection.message


def _lines_before_cut(data: bytes) -> int:
    """Complete lines in what survives of a cut gzip stream, counted by zlib itself."""
    return zlib.decompressobj(wbits=31).decompress(data).count(b"\n")


@pytest.mark.parametrize("name", ["cut.jsonl.gz", "cut.csv.gz"])
def test_truncated_gzip_is_rejected_at_the_line_it_ends(tmp_path, name) -> None:
    rows = range(20_000)
    if name.endswith(".csv.gz"):
        text = "a,b\n" + "".join(f"{i},{'x' * (i % 40)}\n" for i in rows)
    else:
        text = "".join(json.dumps({"a": i, "b": "x" * (i % 40)}) + "\n" for i in rows)
    whole = gzip.compress(text.encode())
    cut = whole[: len(whole) // 2]
    path = tmp_path / name
    path.write_bytes(cut)
    rejection = _rejection(path)
    assert (rejection.kind, rejection.line) == ("bad_compression", _lines_before_cut(cut) + 1)
    assert "cut short" in rejection.message


def test_gzip_cut_inside_its_trailer_is_rejected(tmp_path) -> None:
    """DuckDB reads every row of a stream that lost only its 8-byte trailer (CRC and size)."""
    whole = gzip.compress(b'{"a": 1}\n{"a": 2}\n')
    path = tmp_path / "b.jsonl.gz"
    path.write_bytes(whole[:-4])
    assert _rejection(path).kind == "bad_compression"


def test_gzip_with_a_wrong_checksum_is_rejected(tmp_path) -> None:
    whole = bytearray(gzip.compress(b"a,b\n1,2\n3,4\n"))
    whole[-8] ^= 0xFF  # the CRC-32 of the trailer
    path = tmp_path / "crc.csv.gz"
    path.write_bytes(bytes(whole))
    rejection = _rejection(path)
    assert rejection.kind == "bad_compression"
    assert "CRC check failed" in rejection.message


def test_plain_file_named_gz_is_rejected(tmp_path) -> None:
    path = tmp_path / "plain.jsonl.gz"
    path.write_bytes(b'{"a": 1}\n')
    rejection = _rejection(path)
    assert rejection.kind == "bad_compression"
    assert "Not a gzipped file" in rejection.message


def test_missing_file_is_vanished_not_rejected(tmp_path) -> None:
    with pytest.raises(FileVanished, match=r"gone\.csv: no such file"):
        _stage(tmp_path / "gone.csv")
