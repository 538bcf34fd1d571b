"""Reading batch files into the staging table, and the errors of unreadable ones."""

from __future__ import annotations

import gzip
import json
import re
import zlib
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
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


def _staged_rows(path: Path) -> tuple[list[str], list[tuple]]:
    """The staged column names and rows of a file, in file order."""
    con = duckdb.connect()
    staged = stage(con, path, DEFAULT_NULL_VALUES)
    return list(staged.columns), con.execute("SELECT * FROM stage ORDER BY rowid").fetchall()


HEADER_NAMES = ["a\nb", "c\rd", "e\r\nf", "  padded  ", 'say "hi"', "x,y", "é 数据"]


def _duckdb_reads(name: str, newline: str, bom: bytes) -> bool:
    """Whether DuckDB reads a quoted header name with these line breaks in it: any in a file
    without a BOM whose lines end in LF or CR; only CRLF where they end in CRLF."""
    breaks = set(re.findall(r"\r\n?|\n", name))
    return not breaks or (not bom and (newline != "\r\n" or breaks == {"\r\n"}))


@pytest.mark.parametrize("newline", ["\n", "\r", "\r\n"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_csv_header_names_are_kept_exactly(tmp_path, newline, bom) -> None:
    """Quoted line breaks, spaces, quotes and commas in names, whatever ends the lines (but for
    what DuckDB cannot read: next test)."""
    names = [n for n in HEADER_NAMES if _duckdb_reads(n, newline, bom)]
    header = ",".join('"' + n.replace('"', '""') + '"' for n in names)
    rows = [[f"{r}{c}" for c in range(len(names))] for r in range(2)]
    text = newline.join([header, *(",".join(r) for r in rows)]) + newline
    path = tmp_path / "names.csv"
    path.write_bytes(bom + text.encode())
    assert _staged_rows(path) == (names, [tuple(r) for r in rows])


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'"a\nb",c\r\n1,2\r\n', "holds the line break '\\n', which DuckDB cannot read in"),
        (b'"a\rb",c\r\n1,2\r\n', "holds the line break '\\r', which DuckDB cannot read in"),
        (b'\xef\xbb\xbf"a\nb",c\n1,2\n', "cannot read after a byte order mark (BOM)"),
        (b"a\rb,c\n1,2\n", "a carriage return outside quotes inside the header"),
        (b'a,"b"c\n1,2\n', "malformed CSV: ',' expected after '\"'"),
        (b'a,"b\n1,2\n', "malformed CSV: unexpected end of data"),
    ],
)
def test_csv_headers_duckdb_cannot_read_are_rejected_at_line_1(tmp_path, content, words) -> None:
    """DuckDB takes the first line break for the file's (and a bare CR in a field breaks it);
    pandas writes a name with a CR unquoted."""
    path = tmp_path / "header.csv"
    path.write_bytes(content)
    rejection = _rejection(path)
    assert (rejection.kind, rejection.line) == ("malformed_csv", 1)
    assert words in rejection.message


JSON_KEYS = ["é", "数据", "🚀", "a\nb", "a\tb", 'a"b', "a\\b", "*", "a/b", "~1", "a.b", "$", " ",
             "it's", "\u2028", "\x01"]  # fmt: skip


@pytest.mark.parametrize("compressed", [False, True])
def test_json_keys_are_kept_exactly_with_their_values(tmp_path, compressed) -> None:
    """Keys DuckDB's `$."..."` paths misread: escapes of json.dumps, a `*` wildcard."""
    records = [{k: f"{i}-{k}" for k in JSON_KEYS} for i in range(2)]
    text = "".join(json.dumps(r, ensure_ascii=i == 0) + "\n" for i, r in enumerate(records))
    path = tmp_path / ("keys.jsonl.gz" if compressed else "keys.jsonl")
    path.write_bytes(gzip.compress(text.encode()) if compressed else text.encode())
    assert _staged_rows(path) == (JSON_KEYS, [tuple(r.values()) for r in records])


def _parquet(path: Path, names: list[str]) -> Path:
    """A two-row Parquet file whose columns have these names (repeats allowed)."""
    arrays = [pa.array([f"{i}0", f"{i}1"]) for i in range(len(names))]
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path)
    return path


@pytest.mark.parametrize(
    ("key", "suffix"),
    [(k, s) for s in (".jsonl", ".parquet") for k in ("", "\x00", "a\x00b")]
    + [("\x00", ".csv"), ("a\x00b", ".csv")],  # an empty CSV header field is blank: BAD_FILES
)
def test_names_duckdb_cannot_hold_are_rejected(tmp_path, key, suffix) -> None:
    """An empty name (Parquet's was silently read as `C0`) or one with a NUL character."""
    path = tmp_path / f"odd{suffix}"
    if suffix == ".parquet":
        _parquet(path, ["a", key])
    elif suffix == ".jsonl":
        path.write_text(json.dumps({"a": 1, key: 2}) + "\n")
    else:
        path.write_text(f"a,{key}\n1,2\n")
    rejection = _rejection(path)
    assert (rejection.kind, rejection.column) == ("bad_column_name", key)
    assert f"column name {key!r}" in rejection.message


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_names_differing_only_in_ascii_case_are_rejected(tmp_path, suffix) -> None:
    """DuckDB's names ignore ASCII case (CSV failed in its binder, JSON Lines and Parquet
    stored `Age` as `Age_1`); other letters' case is kept apart, as DuckDB keeps it."""
    names = ["é", "É", "age", "x", "Age"]
    path = tmp_path / f"case{suffix}"
    if suffix == ".parquet":
        _parquet(path, names)
    elif suffix == ".jsonl":
        path.write_text(json.dumps(dict.fromkeys(names, 1)) + "\n")
    else:
        path.write_text(",".join(names) + "\n" + ",".join("1" * len(names)) + "\n")
    rejection = _rejection(path)
    assert (rejection.kind, rejection.column) == ("duplicate_column", "Age")
    assert "columns 'age' and 'Age' differ only in case" in rejection.message


def test_a_name_repeated_in_parquet_is_rejected(tmp_path) -> None:
    """Read as `a` and `a_1` by DuckDB, silently, until checked."""
    rejection = _rejection(_parquet(tmp_path / "twice.parquet", ["a", "b", "a"]))
    assert (rejection.kind, rejection.column) == ("duplicate_column", "a")
    assert "column appears twice in the file" in rejection.message


def test_parquet_names_are_read_past_nested_columns(tmp_path) -> None:
    """The schema lists a nested column's parts after it: only top-level names count."""
    table = pa.table({"l": [[1, 2]], "s": [{"a": 1, "l": [2]}], "m": pa.array([[("k", 1)]],
                     pa.map_(pa.string(), pa.int64())), "a": [3]})  # fmt: skip
    path = tmp_path / "nested.parquet"
    pq.write_table(table, path)
    assert _staged_rows(path)[0] == ["l", "s", "m", "a"]


@pytest.mark.parametrize("name", ["rowid.csv", "rowid.jsonl", "rowid.parquet"])
def test_a_column_named_rowid_is_staged_beside_the_row_number(write_batch, name) -> None:
    """A real `ROWID` would hide DuckDB's row number, which numbers the staged rows."""
    rows = [{"_rowid": "u", "ROWID": f"r{i}", "b": str(i)} for i in range(3)]
    con = duckdb.connect()
    staged = stage(con, write_batch(name, rows), DEFAULT_NULL_VALUES)
    assert list(staged.columns) == ["_rowid", "ROWID", "b"]
    hidden = staged.staged_name("ROWID")
    assert hidden.lower() not in ("rowid", "_rowid")
    assert con.execute(f'SELECT rowid, "{hidden}", b FROM stage ORDER BY rowid').fetchall() == [
        (i, f"r{i}", str(i)) for i in range(3)
    ]


def test_jsonl_with_a_bom_is_rejected_at_line_1(tmp_path) -> None:
    """DuckDB refuses a BOM in JSON; the rejection used to name no line."""
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n')
    rejection = _rejection(path)
    assert (rejection.kind, rejection.line) == ("malformed_json", 1)
    assert "byte order mark" in rejection.message
