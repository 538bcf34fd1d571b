"""Read a batch file (CSV, Parquet, JSON Lines; optionally gzip) into a DuckDB staging table.

The staging table keeps the file's row order, so `rowid + 1` is the row number a rejection
names (data rows, 1-based, the CSV header not counted). CSV and JSON Lines are staged as text and
cast later in SQL; Parquet keeps its own types. Unreadable files raise `BatchRejected`, whatever
failed (DuckDB, the gzip stream, the OS); a file that is gone raises `FileVanished`. DuckDB
running out of memory (its limit is the loop's `resources.duckdb_memory`) or of disk for its
spill files is no fault of the file: it raises `ValidationLoopError`, and the file stays put.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import duckdb

from validation_loop.errors import BatchRejected, FileVanished, Rejection, ValidationLoopError
from validation_loop.warehouse import quote_ident, quote_literal

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
# The longest line read in Python: DuckDB's own limits (read_csv's `max_line_size`, and
# read_ndjson's `maximum_object_size`), so a file without line breaks is never read whole.
MAX_CSV_LINE = 2 * 2**20
MAX_JSON_LINE = 16 * 2**20


@dataclass(frozen=True)
class StagedBatch:
    """A batch file staged in a DuckDB table: its format, columns and their DuckDB types."""

    table: str
    format: str
    columns: dict[str, str]
    row_count: int


def detect_format(path: Path) -> tuple[str, bool]:
    """The file's format and whether it is gzip-compressed, from its name."""
    name = path.name.lower()
    compressed = name.endswith(".gz")
    stem = name.removesuffix(".gz")
    for suffix, fmt in FORMATS.items():
        if stem.endswith(suffix) and not (compressed and fmt == "parquet"):
            return fmt, compressed
    known = ", ".join(sorted({*FORMATS, ".csv.gz", ".jsonl.gz", ".ndjson.gz"}))
    raise BatchRejected(
        path.name, Rejection("unknown_format", f"unknown file type; expected one of {known}")
    )


def stage(
    con: duckdb.DuckDBPyConnection, path: Path, null_values: list[str], limit: int | None = None
) -> StagedBatch:
    """Load `path` (its first `limit` rows, if given) into the table `stage` of `con`, or raise
    `BatchRejected` (`FileVanished` if the file is gone)."""
    fmt, compressed = detect_format(path)
    head = "" if limit is None else f" LIMIT {int(limit)}"
    try:
        if path.stat().st_size == 0:
            raise BatchRejected(path.name, Rejection("empty", "file is empty"))
        if compressed:
            _check_gzip(path)
        if fmt == "csv":
            _stage_csv(con, path, compressed, null_values, head)
        elif fmt == "jsonl":
            _stage_jsonl(con, path, compressed, head)
        else:
            _stage_parquet(con, path, head)
    except FileNotFoundError:
        raise FileVanished(path.name) from None
    except (OSError, EOFError, zlib.error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        rejection = Rejection("unreadable", f"cannot read the file: {reason}")
        raise BatchRejected(path.name, rejection) from None
    described = con.execute("DESCRIBE stage").fetchall()
    columns = {str(row[0]): str(row[1]) for row in described}
    count = con.execute("SELECT count(*) FROM stage").fetchone()
    rows = int(count[0]) if count else 0
    if rows == 0:
        raise BatchRejected(path.name, Rejection("empty", "file has no data rows"))
    return StagedBatch("stage", fmt, columns, rows)


def _open_bytes(path: Path, compressed: bool) -> IO[bytes]:
    """The file's bytes, decompressing gzip."""
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _check_gzip(path: Path) -> None:
    """Decompress the whole gzip stream once, in chunks: DuckDB checks neither a stream's CRC
    nor that it was cut short, and can read a truncated file as fewer rows. A bad stream is
    rejected; a cut-off one names the line it ends in."""
    lines = 0
    try:
        with gzip.open(path, "rb") as stream:
            for chunk in iter(lambda: stream.read1(1 << 16), b""):
                lines += chunk.count(b"\n")
    except EOFError:
        rejection = Rejection(
            "bad_compression", "the gzip stream ends early: the file was cut short", line=lines + 1
        )
        raise BatchRejected(path.name, rejection) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        rejection = Rejection("bad_compression", f"not a valid gzip stream: {exc}")
        raise BatchRejected(path.name, rejection) from None


def _read_header(path: Path, compressed: bool) -> list[str]:
    """The CSV header's column names (first line), checked for encoding, blanks and repeats."""
    with _open_bytes(path, compressed) as raw:
        first = raw.readline(MAX_CSV_LINE + 1)
    if len(first) > MAX_CSV_LINE:
        rejection = Rejection(
            "malformed_csv",
            f"malformed CSV: the header is longer than {MAX_CSV_LINE} bytes",
            line=1,
        )
        raise BatchRejected(path.name, rejection)
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        rejection = Rejection("encoding", "file is not UTF-8 encoded", line=1)
        raise BatchRejected(path.name, rejection) from None
    header = next(csv.reader([text]), [])
    if not header or all(not h.strip() for h in header):
        raise BatchRejected(path.name, Rejection("empty", "file has no header row", line=1))
    names = [h.strip() for h in header]
    for position, name in enumerate(names, start=1):
        if not name:
            raise BatchRejected(
                path.name, Rejection("malformed_csv", f"header field {position} is blank", line=1)
            )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise BatchRejected(
                path.name,
                Rejection("duplicate_column", "column appears twice in the header", column=name),
            )
        seen.add(name)
    return names


def _csv_rejection(message: str) -> Rejection:
    """Turn DuckDB's CSV error into a short rejection with its line number."""
    match = _CSV_LINE.search(message)
    line = int(match.group(1)) if match else None
    lines = [s.strip() for s in message.splitlines()]
    reasons = [
        s
        for s in lines[1:]
        if s and not s.startswith(("Original Line", "Possible", "*", "file =")) and "=" not in s
    ]
    reason = reasons[0] if reasons else lines[0]
    if "not utf-8" in message.lower():
        return Rejection("encoding", "file is not UTF-8 encoded", line=line)
    return Rejection("malformed_csv", f"malformed CSV: {reason}", line=line)


def _stage_csv(
    con: duckdb.DuckDBPyConnection, path: Path, compressed: bool, null_values: list[str], head: str
) -> None:
    """Stage a CSV file as text columns; the header is read first so the dialect is fixed."""
    names = _read_header(path, compressed)
    columns = "{" + ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n in names) + "}"
    nulls = "[" + ", ".join(quote_literal(v) for v in null_values) + "]"
    try:
        con.execute(
            "CREATE OR REPLACE TABLE stage AS SELECT * FROM read_csv(?, "
            f"columns = {columns}, header = true, delim = ',', quote = '\"', escape = '\"', "
            f"auto_detect = false, strict_mode = true, nullstr = {nulls}, "
            f"compression = '{'gzip' if compressed else 'none'}'){head}",
            [str(path)],
        )
    except duckdb.Error as exc:
        _raise_unless_the_file(exc, path)
        raise BatchRejected(path.name, _csv_rejection(str(exc))) from None


def _raise_unless_the_file(exc: duckdb.Error, path: Path) -> None:
    """Raise a DuckDB error that is no fault of the file (out of memory, no disk left for its
    spill files) as a `ValidationLoopError` that says what to change."""
    if isinstance(exc, duckdb.OutOfMemoryException) or "No space left on device" in str(exc):
        raise ValidationLoopError(
            f"{path.name}: DuckDB could not stage the file: {str(exc).splitlines()[0]} (raise "
            "the loop's resources.duckdb_memory, or free disk space for <home>/tmp)"
        ) from None


def _first_bad_json_line(path: Path, compressed: bool, fallback: str) -> Rejection:
    """Find the first line that is not UTF-8 JSON (only called once DuckDB has refused the file)."""
    with _open_bytes(path, compressed) as raw:
        for number, line in enumerate(iter(lambda: raw.readline(MAX_JSON_LINE + 1), b""), 1):
            if len(line) > MAX_JSON_LINE:
                reason = f"malformed JSON: line longer than {MAX_JSON_LINE} bytes"
                return Rejection("malformed_json", reason, line=number)
            try:
                text = line.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                return Rejection("encoding", "file is not UTF-8 encoded", line=number)
            if not text.strip():
                continue
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                return Rejection("malformed_json", f"malformed JSON: {exc.msg}", line=number)
    return Rejection("malformed_json", f"malformed JSON: {fallback}")


def _stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path, compressed: bool, head: str) -> None:
    """Stage JSON Lines as text columns, one per key seen in any record."""
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE raw_json AS SELECT json FROM read_ndjson_objects(?, "
            f"compression = '{'gzip' if compressed else 'uncompressed'}'){head}",
            [str(path)],
        )
    except duckdb.Error as exc:
        _raise_unless_the_file(exc, path)
        rejection = _first_bad_json_line(path, compressed, str(exc).splitlines()[0])
        raise BatchRejected(path.name, rejection) from None
    not_object = con.execute(
        "SELECT min(rowid) + 1 FROM raw_json WHERE json_type(json) <> 'OBJECT'"
    ).fetchone()
    if not_object and not_object[0] is not None:
        raise BatchRejected(
            path.name,
            Rejection("malformed_json", "record is not a JSON object", row=int(not_object[0])),
        )
    keys = [
        str(row[0])
        for row in con.execute(
            "SELECT key FROM (SELECT unnest(k) AS key, generate_subscripts(k, 1) AS pos, r "
            "FROM (SELECT json_keys(json) AS k, rowid AS r FROM raw_json)) "
            "GROUP BY key ORDER BY min([r, pos])"
        ).fetchall()
    ]
    selects = (
        ", ".join(
            f"json_extract_string(json, {quote_literal(_json_path(k))}) AS {quote_ident(k)}"
            for k in keys
        )
        or "NULL AS _empty"
    )
    con.execute(f"CREATE OR REPLACE TABLE stage AS SELECT {selects} FROM raw_json ORDER BY rowid")
    con.execute("DROP TABLE raw_json")


def _json_path(key: str) -> str:
    """A JSONPath that selects one top-level key, whatever characters it has."""
    return "$." + json.dumps(key)


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, head: str) -> None:
    """Stage a Parquet file with its own column types."""
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE stage AS SELECT * FROM read_parquet(?){head}", [str(path)]
        )
    except duckdb.Error as exc:
        _raise_unless_the_file(exc, path)
        first = str(exc).splitlines()[0].removeprefix("Invalid Input Error: ")
        raise BatchRejected(
            path.name, Rejection("unreadable_parquet", f"not a readable Parquet file: {first}")
        ) from None
