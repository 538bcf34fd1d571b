"""Read a batch file (CSV, Parquet, JSON Lines; optionally gzip) into a DuckDB staging table.

The staging table keeps the file's row order, so `rowid + 1` is the row number a rejection
names (data rows, 1-based, the CSV header not counted); a column named `rowid` is staged under
another name (`StagedBatch.renamed`) so as not to hide it. Column names are kept exactly as
written; names DuckDB cannot hold (empty, with NUL, or equal but for ASCII case, as its names
ignore case) are rejected. CSV and JSON Lines are staged as text and cast later in SQL; Parquet
keeps its own types. Unreadable files raise `BatchRejected`, whatever failed (DuckDB, the gzip
stream, the OS); a file that is gone raises `FileVanished`. DuckDB running out of memory (its
limit is the loop's `resources.duckdb_memory`) or of disk for its spill files is no fault of
the file: it raises `ValidationLoopError`, and the file stays put.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import re
import string
import zlib
from dataclasses import dataclass, field
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
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_CSV_TOKENS = re.compile(r'"[^"]*"?|\r\n?|\n')  # quoted runs and line breaks
# DuckDB's `new_line` option for the line break that ends a CSV header (CRLF: its own sniffing)
_NEW_LINE = {"\n": "\\n", "\r": "\\r"}


@dataclass(frozen=True)
class StagedBatch:
    """A batch file staged in a DuckDB table: its format, columns and their DuckDB types, and
    the file's columns the table holds under another name (`renamed`)."""

    table: str
    format: str
    columns: dict[str, str]
    row_count: int
    renamed: dict[str, str] = field(default_factory=dict)

    def staged_name(self, column: str) -> str:
        """The name of a file's column in the staging table."""
        return self.renamed.get(column, column)


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
    return StagedBatch("stage", fmt, columns, rows, _hide_rowid(con, list(columns)))


def _hide_rowid(con: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, str]:
    """Rename a column called `rowid` (in any case) in the staging table, where it would hide
    DuckDB's row number, which numbers the rows; return {its name: its staged name}."""
    folded = {name.translate(_ASCII_LOWER): name for name in names}
    if "rowid" not in folded:
        return {}
    hidden = "_rowid"
    while hidden in folded:
        hidden = "_" + hidden
    name = folded["rowid"]
    con.execute(f"ALTER TABLE stage RENAME COLUMN {quote_ident(name)} TO {quote_ident(hidden)}")
    return {name: hidden}


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


def _read_header(path: Path, compressed: bool) -> tuple[list[str], str | None]:
    """The CSV header's column names exactly as written (spaces and quoted line breaks kept),
    and the line break that ends the file's lines (None if the header is all there is);
    checked for encoding, length, blanks and what DuckDB cannot read, and by `_check_names`."""
    with _open_bytes(path, compressed) as raw:
        head = raw.read(MAX_CSV_LINE + 1)
    cut = len(head) > MAX_CSV_LINE
    # invalid bytes become lone surrogates: only those in the header itself are its fault
    text = codecs.getincrementaldecoder("utf-8-sig")("surrogateescape").decode(head, not cut)
    record, ending, stray_cr = _header_record(text)

    def reject(kind: str, message: str) -> BatchRejected:
        """The file's rejection at line 1."""
        return BatchRejected(path.name, Rejection(kind, message, line=1))

    if cut and ending is None:
        raise reject(
            "malformed_csv", f"malformed CSV: the header is longer than {MAX_CSV_LINE} bytes"
        )
    if stray_cr:
        raise reject(
            "malformed_csv",
            "malformed CSV: a carriage return outside quotes inside the header (RFC 4180 quotes "
            "a field that holds one)",
        )
    bom = head.startswith(codecs.BOM_UTF8)
    inner = re.search(r"\r\n?|\n", record)  # the first line break inside a quoted name
    # DuckDB takes the first line break in a file for its line end, even one inside quotes,
    # and cannot be told CRLF (its new_line = '\r\n' reads no rows in 1.5); after a BOM, it
    # skips a header whose first name spans lines as one line, and reads the rest as a row
    if inner is not None and (bom or (ending == "\r\n" and inner.group() != ending)):
        where = "after a byte order mark (BOM)" if bom else "in a file whose lines end in CRLF"
        raise reject(
            "malformed_csv",
            f"malformed CSV: a header name holds the line break {inner.group()!r}, which "
            f"DuckDB cannot read {where}",
        )
    try:
        header = next(csv.reader([record], strict=True), [])
    except csv.Error as exc:
        raise reject("malformed_csv", f"malformed CSV: {exc}") from None
    try:
        "".join(header).encode("utf-8")
    except UnicodeEncodeError:
        raise reject("encoding", "file is not UTF-8 encoded") from None
    if all(not name.strip() for name in header):
        raise reject("empty", "file has no header row")
    for position, name in enumerate(header, start=1):
        if not name.strip():
            raise reject("malformed_csv", f"header field {position} is blank")
    _check_names(path, header, "header")
    return header, ending


def _header_record(text: str) -> tuple[str, str | None, bool]:
    """CSV text's first record (without its line break), the line break that ends the file's
    lines, and whether a carriage return outside quotes comes before it. The line break is the
    first LF outside quotes (CRLF if a CR precedes it); CR only where no LF is outside quotes."""
    first_cr = None
    for match in _CSV_TOKENS.finditer(text):
        token = match.group()
        if token.startswith('"'):
            continue
        if token.endswith("\n"):
            return text[: match.start()], token, first_cr is not None
        if first_cr is None:
            first_cr = match.start()
    if first_cr is not None:
        return text[:first_cr], "\r", False
    return text, None, False


def _check_names(path: Path, names: list[str], where: str) -> None:
    """Reject column names DuckDB cannot hold: empty, with a NUL character, or repeated. Its
    names ignore ASCII case, so `a` and `A` are one name (it would rename or refuse one)."""
    seen: dict[str, str] = {}
    for name in names:
        if not name or "\x00" in name:
            what = "is empty" if not name else "holds a NUL character"
            rejection = Rejection(
                "bad_column_name",
                f"column name {name!r} {what}, which DuckDB cannot store",
                column=name,
            )
            raise BatchRejected(path.name, rejection)
        folded = name.translate(_ASCII_LOWER)
        if folded not in seen:
            seen[folded] = name
            continue
        first = seen[folded]
        message = (
            f"column appears twice in the {where}"
            if first == name
            else f"columns {first!r} and {name!r} differ only in case, and DuckDB's column "
            "names ignore case: rename one"
        )
        raise BatchRejected(path.name, Rejection("duplicate_column", message, column=name))


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
    """Stage a CSV file as text columns; the header is read first so the dialect is fixed, and
    so is the line break where the header's tells it (DuckDB would take the first one in the
    file, even one inside a quoted name)."""
    names, ending = _read_header(path, compressed)
    columns = "{" + ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n in names) + "}"
    nulls = "[" + ", ".join(quote_literal(v) for v in null_values) + "]"
    new_line = f"new_line = '{_NEW_LINE[ending]}', " if ending in _NEW_LINE else ""
    try:
        con.execute(
            "CREATE OR REPLACE TABLE stage AS SELECT * FROM read_csv(?, "
            f"columns = {columns}, header = true, delim = ',', quote = '\"', escape = '\"', "
            f"{new_line}auto_detect = false, strict_mode = true, nullstr = {nulls}, "
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
            if number == 1 and line.startswith(codecs.BOM_UTF8):
                reason = "malformed JSON: the file starts with a byte order mark (BOM)"
                return Rejection("malformed_json", reason, line=1)
            try:
                text = line.decode()
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
    _check_names(path, keys, "file")
    selects = (
        ", ".join(
            f"json_extract_string(json, {quote_literal(_json_path(k))}) AS {quote_ident(k)}"
            for k in keys
        )
        or "NULL AS _empty"
    )
    con.execute(  # qualified: a key named `rowid` in the select list would win
        f"CREATE OR REPLACE TABLE stage AS SELECT {selects} FROM raw_json ORDER BY raw_json.rowid"
    )
    con.execute("DROP TABLE raw_json")


def _json_path(key: str) -> str:
    """A JSON Pointer (RFC 6901) that selects one top-level key, whatever characters it has:
    DuckDB's `$."..."` paths read `*` as a wildcard and cannot name the empty key."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, head: str) -> None:
    """Stage a Parquet file with its own column types."""
    try:
        names = _parquet_names(con, path)
        con.execute(
            f"CREATE OR REPLACE TABLE stage AS SELECT * FROM read_parquet(?){head}", [str(path)]
        )
    except duckdb.Error as exc:
        _raise_unless_the_file(exc, path)
        first = str(exc).splitlines()[0].removeprefix("Invalid Input Error: ")
        raise BatchRejected(
            path.name, Rejection("unreadable_parquet", f"not a readable Parquet file: {first}")
        ) from None
    _check_names(path, names, "file")


def _parquet_names(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """The top-level column names in a Parquet file's schema, as written (`read_parquet`
    renames an empty or repeated name). The schema lists its elements depth first, each with
    its number of children."""
    elements = con.execute(
        "SELECT name, coalesce(num_children, 0) FROM parquet_schema(?) ORDER BY column_id",
        [str(path)],
    ).fetchall()
    names: list[str] = []
    open_children = [int(elements[0][1])] if elements else []  # per open element, the root first
    for name, children in elements[1:]:
        if len(open_children) == 1:
            names.append(str(name))
        open_children[-1] -= 1
        open_children.append(int(children))
        while len(open_children) > 1 and open_children[-1] == 0:
            open_children.pop()
    return names
