"""Property-based fuzzing of batch files and `loop.yaml` (issue 12).

Every input, however malformed, must end as an accepted batch or a clean rejection: never a
traceback, never a partial write. Each batch file goes through the real `ingest_file` into a
real DuckDB warehouse in a fresh home; each `loop.yaml` through the real `load_spec` and
`parse_spec`.

- Accepted: the warehouse holds exactly that batch, `row_count` rows, numbered 1..n; the file
  is archived byte for byte; nothing is in quarantine or `rejections`. Where the test built a
  well-formed file it counts the rows itself, and where every value is valid it knows every
  stored value (and such a file must be accepted).
- Rejected (`BatchRejected`, nothing else): the file is in quarantine byte for byte with an
  `.error.json` naming it, one `rejections` row, and no table, batch or archive entry.

Bounds: the `ci` profile in conftest.py (derandomized, a few dozen inputs per property);
`HYPOTHESIS_PROFILE=long pytest validation_loop_tests/test_fuzz.py`, or
`benchmarks/fuzz_inputs.py`, tries thousands. `TRIED` counts the inputs per property.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tempfile
import zoneinfo
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.utils import check_random_state

from validation_loop.defs.schedules import build_report_schedule
from validation_loop.errors import BatchRejected, SpecError
from validation_loop.gaps.thresholds import threshold_names
from validation_loop.home import Home, Source
from validation_loop.ingest import ERROR_SUFFIX, ingest_file, quarantine_name
from validation_loop.resources import duckdb_config
from validation_loop.spec import ColumnType, LoopSpec, load_spec, parse_spec, save_spec
from validation_loop.warehouse import Warehouse
from validation_loop_tests.conftest import SPEC

LOOP = parse_spec(SPEC, "fuzz")
COLUMNS = list(LOOP.columns)  # customer_id, age, region, active, signup, churned
NULLS = LOOP.null_values
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
KINDS = {  # every rejection kind the loop documents (README, "Batches") or raises
    "empty",
    "unknown_format",
    "malformed_csv",
    "encoding",
    "missing_column",
    "extra_column",
    "duplicate_column",
    "bad_value",
    "missing_label",
    "missing_id",
    "duplicate_id",
    "unreadable_parquet",
    "malformed_json",
    "bad_compression",
    "unreadable",
    "mixed_time_zones",
    "bad_column_name",
}
TRIED: Counter[str] = Counter()  # inputs tried per property (benchmarks/fuzz_inputs.py)
OUTCOMES: Counter[str] = Counter()  # "<property>: accepted" or "<property>: <kind>"


# --- what the test knows about a batch, and the property every batch must meet ---------------


@dataclass(frozen=True)
class Cell:
    """One valid value: as CSV text, as a JSON value, as a typed (Parquet) value, and as the
    warehouse must store it."""

    text: str
    json: Any
    value: Any
    expected: Any


@dataclass(frozen=True)
class Table:
    """Valid rows of the churn loop, in a column order of the file's choosing."""

    source: Source
    order: list[str]
    cells: dict[str, list[Cell]]

    @property
    def rows(self) -> int:
        """Number of data rows."""
        return len(self.cells[self.order[0]])

    @property
    def expected(self) -> list[tuple[Any, ...]]:
        """The rows the warehouse must hold, in the spec's column order."""
        return [
            tuple(self.cells[c][i].expected if c in self.cells else None for c in COLUMNS)
            for i in range(self.rows)
        ]


@dataclass(frozen=True)
class Batch:
    """One fuzzed batch file and what the test knows about it without the loop's help."""

    name: str
    data: bytes
    source: Source = "human"
    rows: int | None = None  # data rows, when the file is well-formed
    expected: list[tuple[Any, ...]] | None = None  # stored rows, when every value is valid
    inside: bool = True  # dropped in landing/ (moved) rather than elsewhere (copied)


def check_batch(batch: Batch, prop: str) -> str:
    """Ingest one batch in a fresh home, check that it ended accepted or cleanly rejected, and
    return `accepted` or the rejection's kind."""
    TRIED[prop] += 1
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        home = Home(Path(tmp) / "home")
        layout = home.loop(LOOP.name)
        layout.create()
        folder = layout.landing(batch.source) if batch.inside else Path(tmp) / "incoming"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / batch.name
        path.write_bytes(batch.data)
        try:
            outcome = ingest_file(home, LOOP, path, batch.source)
        except BatchRejected as rejected:
            OUTCOMES[f"{prop}: {rejected.rejection.kind}"] += 1
            _check_rejected(home, batch, path, rejected)
            return rejected.rejection.kind
        OUTCOMES[f"{prop}: accepted"] += 1
        _check_accepted(home, batch, path, outcome.batch.batch_id, outcome.stored_as)
        return "accepted"


def _sha(data: bytes) -> str:
    """The SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def _files(folder: Path) -> list[Path]:
    """Every file below a folder."""
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _check_accepted(
    home: Home, batch: Batch, path: Path, batch_id: str, stored_as: Path | None
) -> None:
    """The warehouse holds exactly this batch, wholly; the file is archived as it was."""
    assert batch_id == f"{batch.source}-{_sha(batch.data)[:16]}"
    layout = home.loop(LOOP.name)
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    with Warehouse(home.warehouse_path).read() as con:
        batches = con.execute("SELECT batch_id, source, row_count FROM batches").fetchall()
        numbering = con.execute(
            "SELECT count(*), min(_row), max(_row), count(DISTINCT _row) "
            f'FROM churn."{batch.source}" WHERE _batch_id = ?',
            [batch_id],
        ).fetchone()
        others = con.execute(
            f'SELECT count(*) FROM churn."{batch.source}" WHERE _batch_id <> ?', [batch_id]
        ).fetchone()
        stored = con.execute(
            f'SELECT {columns} FROM churn."{batch.source}" ORDER BY _row'
        ).fetchall()
        rejections = con.execute("SELECT count(*) FROM rejections").fetchone()
    assert [b[:2] for b in batches] == [(batch_id, batch.source)]
    count = batches[0][2]
    assert count >= 1
    assert numbering == (count, 1, count, count)
    assert others == (0,)
    assert rejections == (0,)
    if batch.rows is not None:
        assert count == batch.rows, f"{count} rows stored, the file has {batch.rows}"
    if batch.expected is not None:
        assert stored == batch.expected
    assert stored_as is not None and stored_as.read_bytes() == batch.data
    assert _files(layout.archive) == [stored_as]
    assert _files(layout.quarantine) == []
    assert path.exists() != batch.inside


def _check_rejected(home: Home, batch: Batch, path: Path, rejected: BatchRejected) -> None:
    """The file sits in quarantine with an error file naming it; nothing of it is stored."""
    rejection = rejected.rejection
    assert batch.expected is None, f"a valid batch was rejected: {rejected}"
    assert rejection.kind in KINDS, rejection
    assert rejected.file_name == batch.name
    message = str(rejected)
    assert message.startswith(f"{batch.name}: ") and len(message) > len(batch.name) + 2
    for place in (rejection.row, rejection.line):
        assert place is None or place >= 1, rejection
    if batch.rows is not None and rejection.row is not None:
        assert rejection.row <= batch.rows, rejection
    layout = home.loop(LOOP.name)
    quarantined = layout.quarantine / quarantine_name(batch.name)
    error_file = quarantined.with_name(quarantined.name + ERROR_SUFFIX)
    assert _files(layout.quarantine) == sorted([quarantined, error_file])
    assert quarantined.read_bytes() == batch.data
    report = json.loads(error_file.read_text(encoding="utf-8"))
    assert report["file"] == batch.name
    assert report["message"] == message
    assert report["sha256"] == _sha(batch.data)
    assert report["error"]["kind"] == rejection.kind
    assert _files(layout.archive) == []
    assert path.exists() != batch.inside
    with Warehouse(home.warehouse_path).read() as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'churn'"
        ).fetchall()
        batches = con.execute("SELECT count(*) FROM batches").fetchone()
        recorded = con.execute("SELECT file_name, sha256, kind, source FROM rejections").fetchall()
    assert tables == []
    assert batches == (0,)
    assert recorded == [(batch.name, _sha(batch.data), rejection.kind, batch.source)]


# --- valid values --------------------------------------------------------------------------

PADDING = st.sampled_from(["", "", " ", "  "])
SAFE_TEXT = st.text(max_size=12).filter(lambda s: s not in NULLS)


def _null() -> st.SearchStrategy[Cell]:
    """A missing value: one of the null strings in CSV, null in JSON."""
    return st.sampled_from(NULLS).map(lambda text: Cell(text, None, None, None))


@st.composite
def numeric_cells(draw: st.DrawFn) -> Cell:
    """A number as an integer or the shortest text of a finite double, maybe padded."""
    number: int | float = draw(
        st.one_of(
            st.integers(-(10**18), 10**18),
            st.floats(allow_nan=False, allow_infinity=False),
        )
    )
    text = repr(number)
    pad = draw(PADDING)
    as_text = draw(st.booleans())
    return Cell(pad + text + pad, text if as_text else number, number, float(number))


@st.composite
def boolean_cells(draw: st.DrawFn) -> Cell:
    """A boolean as one of the loop's words, in any case, maybe padded."""
    value = draw(st.booleans())
    word = draw(st.sampled_from(TRUE_WORDS if value else FALSE_WORDS))
    word = "".join(c.upper() if draw(st.booleans()) else c for c in word)
    json_value = draw(st.sampled_from([value, word]))
    return Cell(draw(PADDING) + word + draw(PADDING), json_value, value, value)


TIMESPECS = ("minutes", "seconds", "milliseconds", "microseconds")


def datetime_cells(aware: bool) -> st.SearchStrategy[Cell]:
    """An ISO 8601 datetime (or date), with a UTC offset or `Z` on every value when `aware`."""

    @st.composite
    def cells(draw: st.DrawFn) -> Cell:
        moment = draw(st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1)))
        form = draw(st.sampled_from(["date", *TIMESPECS]))
        if form == "date" and not aware:
            moment = datetime(moment.year, moment.month, moment.day)
            return Cell(moment.date().isoformat(), moment.date().isoformat(), moment, moment)
        if form == "minutes":  # ISO 8601 may leave out the seconds, before an offset too
            moment = moment.replace(second=0, microsecond=0)
        elif form in ("date", "seconds"):
            moment = moment.replace(microsecond=0)
        elif form == "milliseconds":
            moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        spec = "seconds" if form == "date" else form
        sep = draw(st.sampled_from([" ", "T"]))
        if not aware:
            text = moment.isoformat(sep=sep, timespec=spec)
            return Cell(text, text, moment, moment)
        minutes = draw(st.integers(-14 * 60, 14 * 60))
        zoned = moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
        text = zoned.isoformat(sep=sep, timespec=spec)
        if minutes == 0 and draw(st.booleans()):
            text = text.removesuffix("+00:00") + "Z"
        utc = zoned.astimezone(UTC).replace(tzinfo=None)
        return Cell(text, text, zoned, utc)

    return cells()


def text_cells() -> st.SearchStrategy[Cell]:
    """Any text that is not a null string."""
    return SAFE_TEXT.map(lambda s: Cell(s, s, s, s))


def cells_for(column_type: ColumnType, aware: bool) -> st.SearchStrategy[Cell]:
    """Valid cells of a column type (no missing values)."""
    return {
        ColumnType.numeric: numeric_cells(),
        ColumnType.boolean: boolean_cells(),
        ColumnType.datetime: datetime_cells(aware),
        ColumnType.categorical: text_cells(),
        ColumnType.text: text_cells(),
    }[column_type]


# Names a reader once mangled: DuckDB's row number, JSON path syntax, spaces, quotes, commas
ODD_VALID_NAMES = ["rowid", "RowID", "*", "$", "a.b", "a/b", "~1", '"q"', "a,b", " padded ",
                   "\u2028", "é", "数据"]  # fmt: skip


def extra_names() -> st.SearchStrategy[list[str]]:
    """Up to two extra column names, kept exactly as written, that stay distinct from the
    spec's (also ignoring case, as DuckDB does). Not blank (a CSV header field may not be), no
    NUL (DuckDB cannot hold it), no line break (DuckDB cannot read one in a CRLF header)."""
    taken = {c.casefold() for c in COLUMNS}
    chars = st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\x00")
    name = st.one_of(st.sampled_from(ODD_VALID_NAMES), st.text(chars, min_size=1, max_size=10))
    return st.lists(
        name.filter(lambda n: n.strip() and n.casefold() not in taken),
        max_size=2,
        unique_by=str.casefold,
    )


@st.composite
def tables(draw: st.DrawFn) -> Table:
    """Valid rows of the churn loop: every value parses, labels and ids are present, ids are
    unique; a synthetic batch may leave out the id column; extra columns may come along."""
    source: Source = draw(st.sampled_from(["human", "synthetic"]))
    rows = draw(st.integers(1, 6))
    aware = draw(st.booleans())
    columns = [
        c for c in COLUMNS if c != LOOP.id_column or source == "human" or draw(st.booleans())
    ]
    cells: dict[str, list[Cell]] = {}
    for column in columns:
        kind = LOOP.columns[column]
        if column == LOOP.id_column:
            ids = draw(st.lists(SAFE_TEXT, min_size=rows, max_size=rows, unique=True))
            cells[column] = [Cell(i, i, i, i) for i in ids]
            continue
        value = cells_for(kind, aware)
        if column != LOOP.label:
            value = st.one_of(value, _null())
        cells[column] = draw(st.lists(value, min_size=rows, max_size=rows))
    for extra in draw(extra_names()):
        cells[extra] = draw(st.lists(text_cells(), min_size=rows, max_size=rows))
    order = draw(st.permutations(list(cells)))
    return Table(source, order, cells)


# --- writing files ---------------------------------------------------------------------------


def quote(field: str, mode: str) -> str:
    """One CSV field: quoted always, when needed (RFC 4180), or never (`raw`)."""
    if mode == "all" or (mode == "minimal" and re.search(r'[,"\r\n]', field)):
        return '"' + field.replace('"', '""') + '"'
    return field


def csv_text(
    lines: list[list[str]], modes: list[str], newline: str, trailing: bool
) -> tuple[str, int]:
    """CSV text from a header and rows of fields, one quoting mode per line; and the data
    rows a reader must see (a line with nothing on it is no row)."""
    rendered = [",".join(quote(f, m) for f in line) for line, m in zip(lines, modes, strict=True)]
    rows = sum(1 for line in rendered[1:] if line)
    return newline.join(rendered) + (newline if trailing else ""), rows


def gzipped(data: bytes, level: int = 6) -> bytes:
    """One gzip member holding `data`, with a fixed time stamp."""
    return gzip.compress(data, compresslevel=level, mtime=0)


@st.composite
def name_for(draw: st.DrawFn, extension: str) -> str:
    """A plain file name with this extension, in either case."""
    stem = draw(st.text("abcxyz_-0123456789", min_size=1, max_size=10))
    return stem + (extension.upper() if draw(st.booleans()) else extension)


@st.composite
def valid_csv(draw: st.DrawFn) -> Batch:
    """A valid table as RFC 4180 CSV, maybe with a BOM, CRLF, no final newline, gzipped."""
    table = draw(tables())
    header = table.order
    body = [[table.cells[c][i].text for c in header] for i in range(table.rows)]
    modes = draw(st.lists(st.sampled_from(["minimal", "all"]), min_size=1 + table.rows,
                          max_size=1 + table.rows))  # fmt: skip
    text, rows = csv_text([header, *body], modes, draw(st.sampled_from(["\n", "\r\n"])),
                          draw(st.booleans()))  # fmt: skip
    data = (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode()
    compress = draw(st.booleans())
    name = draw(name_for(".csv.gz" if compress else ".csv"))
    return Batch(
        name,
        gzipped(data) if compress else data,
        table.source,
        rows,
        table.expected,
        draw(st.booleans()),
    )


def jsonl_text(records: list[dict[str, Any]], newline: str, ascii_only: bool) -> str:
    """JSON Lines text, one object per line."""
    return "".join(json.dumps(r, ensure_ascii=ascii_only) + newline for r in records)


@st.composite
def valid_jsonl(draw: st.DrawFn) -> Batch:
    """A valid table as JSON Lines: numbers as JSON numbers or strings, booleans as JSON
    booleans or words, nulls as null."""
    table = draw(tables())
    records = [
        {c: (None if table.cells[c][i].value is None else table.cells[c][i].json)
         for c in table.order}
        for i in range(table.rows)
    ]  # fmt: skip
    text = jsonl_text(records, draw(st.sampled_from(["\n", "\r\n"])), draw(st.booleans()))
    compress = draw(st.booleans())
    name = draw(name_for(".jsonl.gz" if compress else draw(st.sampled_from([".jsonl", ".ndjson"]))))
    data = text.encode()
    return Batch(
        name,
        gzipped(data) if compress else data,
        table.source,
        table.rows,
        table.expected,
        draw(st.booleans()),
    )


def _arrow_column(draw: st.DrawFn, kind: ColumnType | None, cells: list[Cell]) -> pa.Array:
    """The cells as an Arrow array of a type drawn among those that hold them exactly."""
    values = [c.value for c in cells]
    present = [v for v in values if v is not None]
    if kind is ColumnType.numeric:
        if all(isinstance(v, int) for v in present):
            choices = [pa.int64(), pa.float64(), pa.decimal128(38, 0)]
            if all(abs(v) < 2**31 for v in present):
                choices.append(pa.int32())
            if all(v >= 0 for v in present):
                choices.append(pa.uint64())
            arrow_type = draw(st.sampled_from(choices))
            if arrow_type == pa.float64():  # exact: float(v) is what the warehouse must hold
                values = [None if v is None else float(v) for v in values]
            return pa.array(values, type=arrow_type)
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    if kind is ColumnType.boolean:
        as_int = draw(st.booleans())
        return pa.array([None if v is None else int(v) if as_int else v for v in values],
                        type=pa.int8() if as_int else pa.bool_())  # fmt: skip
    if kind is ColumnType.datetime:
        aware = any(v.tzinfo is not None for v in present)
        midnights = all(v == datetime(v.year, v.month, v.day) for v in present)
        if not aware and midnights and draw(st.booleans()):
            return pa.array([None if v is None else v.date() for v in values], pa.date32())
        unit = draw(st.sampled_from(["us", "ns"]))
        zone = draw(st.sampled_from(["UTC", "+02:00", "America/New_York"])) if aware else None
        return pa.array(values, type=pa.timestamp(unit, tz=zone))
    arrow_type = draw(st.sampled_from([pa.string(), pa.large_string()]))
    array = pa.array(values, type=arrow_type)
    return array.dictionary_encode() if draw(st.booleans()) else array


def parquet_bytes(table: pa.Table, compression: str, row_group: int) -> bytes:
    """A Parquet file of an Arrow table."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression=compression, row_group_size=row_group)
    return sink.getvalue()


COMPRESSIONS = st.sampled_from(["none", "snappy", "gzip", "zstd"])


@st.composite
def valid_parquet(draw: st.DrawFn) -> Batch:
    """A valid table as Parquet, each column of an Arrow type that holds its values exactly."""
    table = draw(tables())
    arrays = [_arrow_column(draw, LOOP.columns.get(c), table.cells[c]) for c in table.order]
    arrow = pa.Table.from_arrays(arrays, names=table.order)
    data = parquet_bytes(arrow, draw(COMPRESSIONS), draw(st.integers(1, 4)))
    name = draw(name_for(draw(st.sampled_from([".parquet", ".pq"]))))
    return Batch(name, data, table.source, table.rows, table.expected, draw(st.booleans()))


# --- hostile inputs ------------------------------------------------------------------------

ODD_NUMBERS = ["nan", "NaN", "-nan", "inf", "-Infinity", "1e309", "-1e309", "1e-400", "0x1F",
               "1_000", "1,5", "١٢", "+.5", ".", "-", "1e", "9" * 400, "0.1e-999999", "--1",
               "1e+", "Infinity", "  ", "\t3\t"]  # fmt: skip
ODD_DATETIMES = ["2024-01-01T00:00:00+02:00", "2024-01-01T00:00:00-05:00", "2024-01-01T00:00:00Z",
                 "2024-01-01 00:00:00 UTC", "2024-01-01 00:00:00 America/New_York",
                 "2024-01-01 10:00:00 EST", "2024-02-30", "0000-01-01", "10000-01-01",
                 "2024-01-01T25:00", "2024-01-01T10:00+05:30", "epoch", "infinity", "-infinity",
                 "2024-01-01 00:00:00.1234567891", "2024-01-01T00:00:00+24:00", "20240101",
                 "294247-01-10 04:00:54.775807", "1/2/2024", "2024-W01-1", "2024-001"]  # fmt: skip
ODD_BOOLEANS = ["TRUE", "on", "off", "2", "-1", "yes ", "ja", "\u0131", "0.0", "1.0"]
ODD_TEXT = ["", "NA", "null", '"', '""', ",", "\n", "\r", "\r\n", "\x00", "\ufeff", "a\x00b",
            "\u2028", "'; DROP TABLE batches; --", "<script>", "é" * 50]  # fmt: skip
ODD_NAMES = ["", " ", "AGE", "Age", " age ", "age", "churned", '"q"', "a,b", "a\nb", "\x00",
             "rowid", "_row", "_batch_id", "select", "é", "\ufeffage"]  # fmt: skip


def hostile_texts(column_type: ColumnType | None) -> st.SearchStrategy[str]:
    """Text for a cell of a column: valid, odd for its type, or anything at all."""
    odd = {
        ColumnType.numeric: ODD_NUMBERS,
        ColumnType.datetime: ODD_DATETIMES,
        ColumnType.boolean: ODD_BOOLEANS,
    }.get(column_type, [])
    valid = cells_for(column_type, False) if column_type else text_cells()
    return st.one_of(
        valid.map(lambda c: c.text),
        st.sampled_from(odd + ODD_TEXT + NULLS),
        st.text(max_size=20),
    )


CSV_DAMAGE = ["odd_value", "odd_value", "drop_column", "odd_column", "repeat_id", "no_label",
              "pad_header", "blank_line", "bom", "no_rows", "ragged", "raw_quoting", "cr_lines",
              "mixed_lines", "encoding", "junk_byte"]  # fmt: skip
BREAKS_CSV = {"ragged", "raw_quoting", "cr_lines", "mixed_lines", "encoding", "junk_byte"}


@st.composite
def hostile_csv(draw: st.DrawFn) -> Batch:
    """A valid table as CSV, then damaged a few times over: odd values (NaN, 1e309, offsets,
    NUL, quotes, newlines), missing, extra, odd or padded columns, repeated ids, missing labels,
    no rows, blank lines, BOMs, ragged rows, unquoted fields, CR or mixed line ends, other
    encodings, stray bytes, gzip. Rows are counted unless the damage breaks the structure."""
    table = draw(tables())
    header = list(table.order)
    body = [[table.cells[c][i].text for c in header] for i in range(table.rows)]
    damage = draw(st.lists(st.sampled_from(CSV_DAMAGE), max_size=3))
    for how in damage:
        row = draw(st.integers(0, len(body) - 1)) if body else 0
        col = draw(st.integers(0, len(header) - 1))
        if how == "odd_value" and body:
            body[row][col] = draw(hostile_texts(LOOP.columns.get(header[col])))
        elif how == "drop_column" and len(header) > 1:
            del header[col]
            for line in body:
                del line[col]
        elif how == "odd_column":
            header.insert(col, draw(st.one_of(st.sampled_from(ODD_NAMES), st.text(max_size=8))))
            for line in body:
                line.insert(col, draw(st.text(max_size=5)))
        elif how in ("repeat_id", "no_label") and len(body) > 1:
            column = LOOP.id_column if how == "repeat_id" else LOOP.label
            if column in header:
                at = header.index(column)
                body[row][at] = body[0][at] if how == "repeat_id" else draw(st.sampled_from(NULLS))
        elif how == "pad_header":
            header[col] = draw(st.sampled_from([" {} ", "{} ", "{}".upper()])).format(header[col])
        elif how == "no_rows":
            body = []
        elif how == "ragged" and body:
            cut = draw(st.integers(0, len(header)))
            body[row] = body[row][:cut] + draw(st.lists(st.text(max_size=3), max_size=2))
    modes = ["raw" if "raw_quoting" in damage else "minimal"] * (1 + len(body))
    lines = [header, *body]
    if "blank_line" in damage:
        lines.insert(draw(st.integers(1, len(lines))), [])
        modes.append("minimal")
    newline = "\r" if "cr_lines" in damage else draw(st.sampled_from(["\n", "\r\n"]))
    text, rows = csv_text(lines, modes, newline, draw(st.booleans()))
    if "mixed_lines" in damage:
        text = text.replace("\n", "\r\n", 1) if newline == "\n" else text.replace("\r\n", "\n", 1)
    encoding = "utf-8"
    if "encoding" in damage:
        encoding = draw(st.sampled_from(["utf-16", "latin-1", "cp1252"]))
    data = ("\ufeff" if "bom" in damage else "").encode() + text.encode(encoding, "replace")
    if "junk_byte" in damage:
        at = draw(st.integers(0, len(data)))
        junk = draw(st.sampled_from([b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80"]))
        data = data[:at] + junk + data[at:]
    compress = draw(st.booleans())
    return Batch(
        draw(name_for(".csv.gz" if compress else ".csv")),
        gzipped(data) if compress else data,
        table.source,
        None if BREAKS_CSV & set(damage) else rows,
        None,
        draw(st.booleans()),
    )


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(ODD_NUMBERS + ODD_DATETIMES + ODD_BOOLEANS + ODD_TEXT),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


JSON_DAMAGE = ["wrong_type", "wrong_type", "drop_key", "odd_key", "repeat_key", "repeat_id",
               "no_label", "non_finite", "blank_line", "no_rows", "non_object", "cut_line",
               "junk_byte", "bom"]  # fmt: skip
BREAKS_JSONL = {"non_object", "cut_line", "junk_byte", "bom"}


@st.composite
def hostile_jsonl(draw: st.DrawFn) -> Batch:
    """A valid table as JSON Lines, then damaged a few times over: values of the wrong type or
    nested, NaN and Infinity, missing, odd or repeated keys, repeated ids, missing labels, no
    rows, blank lines, non-objects, truncated lines, invalid UTF-8, BOMs, gzip. Rows are counted
    unless the damage breaks the structure."""
    table = draw(tables())
    records = [
        {c: (None if table.cells[c][i].value is None else table.cells[c][i].json)
         for c in table.order}
        for i in range(table.rows)
    ]  # fmt: skip
    damage = draw(st.lists(st.sampled_from(JSON_DAMAGE), max_size=3))
    repeated: set[int] = set()
    for how in damage:
        row = draw(st.integers(0, len(records) - 1)) if records else 0
        key = draw(st.sampled_from(table.order))
        if not records:
            continue
        if how == "wrong_type":
            records[row][key] = draw(JSON_VALUES)
        elif how == "drop_key":
            records[row].pop(key, None)
        elif how == "odd_key":
            records[row][draw(st.one_of(st.sampled_from(ODD_NAMES), st.text(max_size=5)))] = 1
        elif how == "repeat_key":
            repeated.add(row)
        elif how in ("repeat_id", "no_label") and len(records) > 1:
            column = LOOP.id_column if how == "repeat_id" else LOOP.label
            records[row][column] = records[0].get(column) if how == "repeat_id" else None
        elif how == "non_finite":
            records[row][key] = draw(st.sampled_from([float("nan"), float("inf"), -float("inf")]))
        elif how == "no_rows":
            records = []
    ascii_only = draw(st.booleans())
    lines = [json.dumps(r, ensure_ascii=ascii_only) for r in records]
    for row in repeated & set(range(len(lines))):
        if records[row]:
            first = json.dumps(next(iter(records[row])))
            lines[row] = lines[row][:-1] + f", {first}: {json.dumps(draw(JSON_SCALARS))}}}"
    if lines and "non_object" in damage:
        lines[draw(st.integers(0, len(lines) - 1))] = json.dumps(draw(JSON_VALUES))
    if lines and "cut_line" in damage:
        at = draw(st.integers(0, len(lines) - 1))
        lines[at] = lines[at][: draw(st.integers(1, max(1, len(lines[at]) - 1)))]
    if "blank_line" in damage:
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["", " ", "\t"])))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    data = (newline.join(lines) + (newline if draw(st.booleans()) else "")).encode()
    if "junk_byte" in damage:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x80\x80"])) + data[at:]
    data = (b"\xef\xbb\xbf" if "bom" in damage else b"") + data
    rows = sum(1 for line in lines if line.strip())
    compress = draw(st.booleans())
    return Batch(
        draw(name_for(".jsonl.gz" if compress else ".jsonl")),
        gzipped(data) if compress else data,
        table.source,
        None if BREAKS_JSONL & set(damage) else rows,
        None,
        draw(st.booleans()),
    )


ARROW_TYPES = [pa.int8(), pa.int64(), pa.uint64(), pa.float32(), pa.float64(), pa.bool_(),
               pa.string(), pa.large_string(), pa.binary(), pa.date32(), pa.date64(),
               pa.timestamp("s"), pa.timestamp("ms", tz="UTC"), pa.timestamp("ns"),
               pa.timestamp("us", tz="Asia/Kolkata"), pa.time64("us"), pa.duration("s"),
               pa.decimal128(10, 3), pa.decimal128(38, 0), pa.null(), pa.list_(pa.int64()),
               pa.struct([("a", pa.int32()), ("b", pa.string())]),
               pa.map_(pa.string(), pa.int64()), pa.dictionary(pa.int8(), pa.string()),
               pa.binary(3), pa.large_list(pa.string())]  # fmt: skip


def _arrow_values(draw: st.DrawFn, arrow_type: pa.DataType, rows: int) -> pa.Array:
    """Random values of an Arrow type, with nulls, non-finite floats and extremes."""
    if pa.types.is_null(arrow_type):
        return pa.nulls(rows)
    if pa.types.is_dictionary(arrow_type):
        words = draw(st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=rows,
                              max_size=rows))  # fmt: skip
        return pa.array(words, pa.string()).dictionary_encode()
    strategy = _arrow_strategy(arrow_type)
    values = draw(st.lists(st.one_of(st.none(), strategy), min_size=rows, max_size=rows))
    return pa.array(values, type=arrow_type)


def _arrow_strategy(arrow_type: pa.DataType) -> st.SearchStrategy[Any]:
    """Python values an Arrow type accepts."""
    if pa.types.is_integer(arrow_type):
        info = {8: 2**7, 16: 2**15, 32: 2**31, 64: 2**63}[arrow_type.bit_width]
        low = 0 if pa.types.is_unsigned_integer(arrow_type) else -info
        high = 2 * info - 1 if pa.types.is_unsigned_integer(arrow_type) else info - 1
        return st.integers(low, high)
    if pa.types.is_floating(arrow_type):
        return st.floats(width=arrow_type.bit_width)
    if pa.types.is_boolean(arrow_type):
        return st.booleans()
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return st.one_of(st.text(max_size=8), st.sampled_from(ODD_NUMBERS + ODD_DATETIMES))
    if pa.types.is_fixed_size_binary(arrow_type):
        return st.binary(min_size=3, max_size=3)
    if pa.types.is_binary(arrow_type):
        return st.binary(max_size=8)
    if pa.types.is_date(arrow_type):
        return st.dates()
    if pa.types.is_timestamp(arrow_type):
        return st.datetimes(datetime(1700, 1, 1), datetime(2250, 1, 1), timezones=st.just(UTC))
    if pa.types.is_time(arrow_type):
        return st.times()
    if pa.types.is_duration(arrow_type):
        return st.timedeltas(timedelta(days=-9999), timedelta(days=9999)).map(
            lambda d: d - timedelta(microseconds=d.microseconds)
        )
    if pa.types.is_decimal(arrow_type):
        digits = arrow_type.precision - arrow_type.scale
        return st.decimals(-(10**digits) + 1, 10**digits - 1, places=arrow_type.scale,
                           allow_nan=False, allow_infinity=False)  # fmt: skip
    if pa.types.is_struct(arrow_type):
        return st.fixed_dictionaries({"a": st.integers(-5, 5), "b": st.text(max_size=3)})
    if pa.types.is_map(arrow_type):
        return st.dictionaries(st.text(max_size=3), st.integers(-5, 5), max_size=2).map(
            lambda d: list(d.items())
        )
    return st.lists(_arrow_strategy(arrow_type.value_type), max_size=3)


@st.composite
def hostile_parquet(draw: st.DrawFn) -> Batch:
    """Real Parquet files of random schemas: the loop's columns (most of them) and others, of
    any Arrow type, with nulls, NaN, nested types, time zones, odd and repeated names."""
    kept = [c for c in COLUMNS if draw(st.integers(0, 9))]
    extras = st.one_of(st.sampled_from([*COLUMNS, *ODD_NAMES]), st.text(max_size=6))
    names = draw(st.permutations(kept + draw(st.lists(extras, max_size=3))))
    rows = draw(st.integers(0, 5))
    arrays = [_arrow_values(draw, draw(st.sampled_from(ARROW_TYPES)), rows) for _ in names]
    arrow = pa.Table.from_arrays(arrays, names=names) if names else pa.table({})
    data = parquet_bytes(arrow, draw(COMPRESSIONS), draw(st.integers(1, 3)))
    return Batch(
        draw(name_for(".parquet")),
        data,
        draw(st.sampled_from(["human", "synthetic"])),
        rows,
        None,
        draw(st.booleans()),
    )


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with a few bytes flipped, cut out, duplicated or inserted, or cut short."""
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        how = draw(st.sampled_from(["flip", "zero", "delete", "insert", "duplicate", "cut"]))
        if how == "flip" and data:
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif how == "zero":
            data = data[:at] + bytes(draw(st.integers(1, 8))) + data[at + 8 :]
        elif how == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 16)) :]
        elif how == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        elif how == "duplicate":
            data = data[:at] + data[at : at + 16] + data[at:]
        else:
            data = data[:at]
    return data


@st.composite
def mutated_parquet(draw: st.DrawFn) -> Batch:
    """A valid Parquet batch with random bytes changed: a clean rejection, or, where the
    change happens to leave a readable file, an accepted batch."""
    batch = draw(valid_parquet())
    return Batch(batch.name, draw(mutated(batch.data)), batch.source, None, None, batch.inside)


@st.composite
def gzip_variants(draw: st.DrawFn) -> tuple[Batch, str]:
    """A valid CSV or JSON Lines batch, gzipped and then: split into several gzip members
    (still valid), cut short, corrupted, followed by junk, or made of an empty stream."""
    plain = draw(st.one_of(valid_csv(), valid_jsonl()))
    payload = gzip.decompress(plain.data) if plain.name.lower().endswith(".gz") else plain.data
    name = plain.name.lower().removesuffix(".gz") + ".gz"
    how = draw(st.sampled_from(["members", "cut", "corrupt", "junk", "empty"]))
    if how == "members":
        cuts = sorted(draw(st.lists(st.integers(0, len(payload)), min_size=1, max_size=3)))
        parts = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
        data = b"".join(gzipped(p, draw(st.integers(0, 9))) for p in parts)
        return Batch(name, data, plain.source, plain.rows, plain.expected, plain.inside), how
    whole = gzipped(payload)
    if how == "cut":
        data = whole[: draw(st.integers(0, len(whole) - 1))]
    elif how == "corrupt":
        data = draw(mutated(whole))
    elif how == "junk":
        data = whole + draw(st.binary(min_size=1, max_size=16))
    else:
        data = gzipped(b"")
    return Batch(name, data, plain.source, None, None, plain.inside), how


# --- regressions: inputs the properties once found ----------------------------------------


def _one_row(**extra: Any) -> dict[str, Any]:
    """A valid human row of the churn loop with extra fields."""
    return {**{c: "1" for c in COLUMNS}, "signup": "2024-01-01", **extra}


def _one_row_stored(customer_id: str) -> tuple[Any, ...]:
    """What the warehouse holds for `_one_row(customer_id=...)`, in the spec's column order."""
    return (customer_id, 1.0, "1", True, datetime(2024, 1, 1), "1")


@pytest.mark.parametrize("newline", ["\r", "\n", "\r\n"])
def test_csv_with_any_line_end_is_read_whole(newline: str) -> None:
    """CR-only line ends, once a `csv.Error` in the header reader."""
    rows = [_one_row(customer_id=f"c{i}") for i in range(3)]
    text = newline.join([",".join(COLUMNS), *(",".join(r.values()) for r in rows)]) + newline
    batch = Batch("lines.csv", text.encode(), rows=3,
                  expected=[_one_row_stored(f"c{i}") for i in range(3)])  # fmt: skip
    assert check_batch(batch, "regressions") == "accepted"


@pytest.mark.parametrize(
    "data",
    [b"a,b\r\x00\n1,2\n", b"\r\x00\n", b'"a\rb",c\r\n1,2\r\n', b'\xef\xbb\xbf"a\nb",c\n1,2\n'],
)
def test_csv_headers_duckdb_cannot_read_are_clean_rejections(data: bytes) -> None:
    """A bare CR and a NUL (once a `csv.Error`); a lone CR inside a quoted name of a CRLF file,
    which DuckDB 1.5 cannot read; a name with a line break after a BOM, which it reads as a
    row."""
    assert check_batch(Batch("header.csv", data), "regressions") == "malformed_csv"


@pytest.mark.parametrize("key", ["", "\x00", "a\x00b"])
def test_jsonl_with_an_empty_or_nul_key_is_a_clean_rejection(key: str) -> None:
    """Once a `duckdb.ParserException` (`AS ""`): DuckDB cannot hold such a column name."""
    batch = Batch("odd_key.jsonl", json.dumps(_one_row(**{key: 1})).encode() + b"\n")
    assert check_batch(batch, "regressions") == "bad_column_name"


@pytest.mark.parametrize("extension", [".csv", ".jsonl", ".parquet"])
def test_a_column_named_rowid_is_an_extra_column_like_any_other(extension: str) -> None:
    """Once a `duckdb.BinderException`: the column hid DuckDB's row number (and JSON Lines
    rows were ordered by its values)."""
    rows = [_one_row(customer_id=f"c{i}", ROWID=f"r{9 - i}") for i in range(2)]  # not in order
    frame = pa.Table.from_pylist(rows)
    if extension == ".parquet":
        data = parquet_bytes(frame, "none", 10)
    elif extension == ".jsonl":
        data = jsonl_text(rows, "\n", True).encode()
    else:
        data = csv_text([list(rows[0]), *[list(r.values()) for r in rows]], ["minimal"] * 3,
                        "\n", True)[0].encode()  # fmt: skip
    batch = Batch("rowid" + extension, data, rows=2,
                  expected=[_one_row_stored(f"c{i}") for i in range(2)])  # fmt: skip
    assert check_batch(batch, "regressions") == "accepted"


@pytest.mark.parametrize("column", ["age", "active"])
def test_a_list_of_numbers_in_a_numeric_or_boolean_column_is_a_clean_rejection(
    column: str,
) -> None:
    """Once a `duckdb.ConversionException`: BIGINT[] was taken for a number type."""
    rows = [_one_row(customer_id=f"c{i}", **{column: [i]}) for i in range(2)]
    batch = Batch("lists.parquet", parquet_bytes(pa.Table.from_pylist(rows), "none", 10))
    assert check_batch(batch, "regressions") == "bad_value"


@pytest.mark.parametrize("extension", [".csv", ".jsonl", ".parquet"])
def test_names_differing_only_in_case_are_a_clean_rejection(extension: str) -> None:
    """Once `malformed_csv` (a DuckDB binder error) or, in JSON Lines and Parquet, `AGE`
    silently stored as `AGE_1`."""
    rows = [_one_row(customer_id=f"c{i}", AGE=f"{i}") for i in range(2)]
    if extension == ".parquet":
        data = parquet_bytes(pa.Table.from_pylist(rows), "none", 10)
    elif extension == ".jsonl":
        data = jsonl_text(rows, "\n", True).encode()
    else:
        data = csv_text([list(rows[0]), *[list(r.values()) for r in rows]], ["minimal"] * 3,
                        "\n", True)[0].encode()  # fmt: skip
    assert check_batch(Batch("case" + extension, data), "regressions") == "duplicate_column"


# --- the properties: batch files -----------------------------------------------------------


@given(valid_csv())
def test_valid_csv_is_accepted_with_every_value(batch: Batch) -> None:
    check_batch(batch, "csv (valid)")


@given(hostile_csv())
def test_hostile_csv_is_accepted_or_cleanly_rejected(batch: Batch) -> None:
    check_batch(batch, "csv (hostile)")


@given(st.binary(max_size=200), st.sampled_from([".csv", ".csv.gz", ".jsonl", ".parquet"]))
def test_random_bytes_are_accepted_or_cleanly_rejected(data: bytes, extension: str) -> None:
    batch = Batch("random" + extension, data)
    check_batch(batch, "random bytes")


@given(valid_jsonl())
def test_valid_jsonl_is_accepted_with_every_value(batch: Batch) -> None:
    check_batch(batch, "jsonl (valid)")


@given(hostile_jsonl())
def test_hostile_jsonl_is_accepted_or_cleanly_rejected(batch: Batch) -> None:
    check_batch(batch, "jsonl (hostile)")


@given(valid_parquet())
def test_valid_parquet_is_accepted_with_every_value(batch: Batch) -> None:
    check_batch(batch, "parquet (valid)")


@given(hostile_parquet())
def test_hostile_parquet_is_accepted_or_cleanly_rejected(batch: Batch) -> None:
    check_batch(batch, "parquet (hostile)")


@given(mutated_parquet())
def test_mutated_parquet_is_accepted_or_cleanly_rejected(batch: Batch) -> None:
    check_batch(batch, "parquet (mutated bytes)")


@given(gzip_variants())
def test_gzip_variants_are_read_whole_or_rejected(variant: tuple[Batch, str]) -> None:
    batch, how = variant
    outcome = check_batch(batch, "gzip variants")
    if how in ("cut", "empty"):  # a stream cut short, or of nothing, is never a batch
        assert outcome != "accepted"


# --- the properties: loop.yaml -------------------------------------------------------------

FILE_PROBLEMS = (  # problems with the whole document rather than one field
    "not valid YAML",
    "not UTF-8 text",
    "expected a mapping of fields",
    "file not found",
    "cannot read the file",
)
ROLE_PROBLEM = re.compile(  # a rule between fields, naming the field it breaks
    r"^(label|id_column|slice|sensitive attribute|annotations\.\w+) '"
    r"|^annotations\.format 'long' needs "
)
ODD_SPEC_WORDS = [
    *COLUMNS,
    *(t.value for t in ColumnType),
    *("classification", "regression", "rows", "long", "propose", "auto", "majority"),
    *("1GB", "0KB", "99999999999 TB", "16MB", "America", "Europe/Berlin", "x" * 300),
    *("@daily", "0 6 31 2 *", "0 6 30 4 *", "1/ 6 * * *", "0 6 * * 7", "*/0 * * * *"),
]
YAML_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**70),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(ODD_SPEC_WORDS),
)
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers(0, 3)), inner, max_size=3),
    ),
    max_leaves=8,
)
CRON_PART = st.one_of(
    st.just("*"),
    st.integers(0, 62).map(str),
    st.sampled_from(["jan", "DEC", "sun", "sat", "mon-fri", "L", "?", "", "-"]),
    st.tuples(st.integers(0, 40), st.integers(0, 40)).map(lambda r: f"{r[0]}-{r[1]}"),
)
CRON_FIELD = st.tuples(
    st.lists(CRON_PART, min_size=1, max_size=3).map(",".join),
    st.sampled_from(["", "", "/0", "/1", "/7", "/", "/x"]),
).map("".join)
CRON = st.lists(CRON_FIELD, min_size=4, max_size=6).map(" ".join)
ZONES = st.one_of(st.sampled_from(sorted(zoneinfo.available_timezones())), st.text(max_size=12))
MEMORY = st.tuples(
    st.sampled_from(["0", "1", "1.5", "15", "16", "1024", "99999999999"]),
    st.sampled_from(["", " "]),
    st.sampled_from(["KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB", "PB", "gb"]),
).map("".join)
FIELD_VALUES = {  # plausible values that reach the deeper checks of some fields
    ("schedule", "cron"): CRON,
    ("schedule", "timezone"): ZONES,
    ("resources", "duckdb_memory"): MEMORY,
    ("thresholds",): st.dictionaries(
        st.sampled_from(threshold_names()), st.floats(-1, 3) | st.floats(), max_size=3
    ),
    ("label",): st.sampled_from([*COLUMNS, "nope"]),
    ("slices",): st.lists(st.sampled_from([*COLUMNS, "nope"]), max_size=3),
}


def full_spec() -> dict[str, Any]:
    """A valid spec with every field written out, an alert route of each kind included."""
    data = LOOP.model_dump(mode="json")
    data["alerts"]["routes"] = [
        {"name": "s", "type": "slack", "url_env": "SLACK_URL"},
        {"name": "w", "type": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
        {"name": "m", "type": "email", "smtp_host": "localhost", "sender": "a@b",
         "recipients": ["c@d"], "username_env": "U", "password_env": "P"},
    ]  # fmt: skip
    data["annotations"] = {"format": "long", "item_column": None, "annotator_column": "rater"}
    data["quality"]["gold"] = {"c1": "yes"}
    return data


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested mappings and lists."""
    found = [prefix] if prefix else []
    if isinstance(data, list):
        data = dict(enumerate(data))
    for key, value in data.items() if isinstance(data, dict) else []:
        found += _paths(value, (*prefix, key))
    return found


@st.composite
def mutated_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid spec with a few fields deleted, replaced, renamed or added."""
    data = full_spec()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        how = draw(st.sampled_from(["replace", "replace", "delete", "rename", "add"]))
        strategy = FIELD_VALUES.get(tuple(str(k) for k in path), YAML_VALUES)
        if how == "replace":
            parent[key] = draw(strategy)
        elif how == "delete" and isinstance(parent, dict):
            del parent[key]
        elif how == "rename" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = parent.pop(key)
        elif how == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(YAML_VALUES)
    return data


@st.composite
def mutated_spec_texts(draw: st.DrawFn) -> str:
    """The YAML text of a valid spec with lines deleted, repeated, re-indented or cut, or
    characters inserted."""
    lines = yaml.safe_dump(full_spec(), sort_keys=False).splitlines()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["delete", "repeat", "indent", "cut", "insert"]))
        if how == "delete":
            del lines[at]
        elif how == "repeat":
            lines.insert(at, lines[at])
        elif how == "indent":
            lines[at] = draw(st.sampled_from(["", " ", "   ", "\t"])) + lines[at].lstrip()
        elif how == "cut":
            lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
        else:
            column = draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:column] + draw(st.text(max_size=4)) + lines[at][column:]
        if not lines:
            break
    return "\n".join(lines) + "\n"


def check_spec_file(data: bytes, prop: str) -> None:
    """Load a `loop.yaml` of these bytes: a usable `LoopSpec`, or a `SpecError` naming the
    file and, for each problem, the field (or saying the document itself is wrong)."""
    TRIED[prop] += 1
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        path = Path(tmp) / LOOP.name / "loop.yaml"
        path.parent.mkdir()
        path.write_bytes(data)
        try:
            spec = load_spec(path)
        except SpecError as error:
            OUTCOMES[f"{prop}: SpecError"] += 1
            _check_spec_error(error, str(path))
            return
        OUTCOMES[f"{prop}: LoopSpec"] += 1
        _check_usable(spec, Path(tmp) / "again" / LOOP.name / "loop.yaml")


def _check_spec_error(error: SpecError, origin: str) -> None:
    """The error names the file, and each problem its field or the whole document."""
    assert error.origin == origin
    assert str(error).startswith(f"{origin}: ")
    assert error.problems
    for problem in error.problems:
        assert (
            problem.startswith(("field '", 'field "'))
            or problem.startswith(FILE_PROBLEMS)
            or ROLE_PROBLEM.match(problem)
        ), problem
        assert len(problem) < 2_000, problem[:300]


def _check_usable(spec: LoopSpec, again: Path) -> None:
    """An accepted spec saves and loads back equal, and what the loop builds from it works:
    its schedule, its DuckDB settings and its seed."""
    save_spec(spec, again)
    assert load_spec(again) == spec
    build_report_schedule(spec.name, spec, dg.define_asset_job("fuzz", selection="*"))
    con = duckdb.connect(config=duckdb_config(spec.resources))
    try:
        assert con.execute("SELECT 42").fetchone() == (42,)
    finally:
        con.close()
    check_random_state(spec.seed)


# A loop.yaml takes milliseconds where a batch takes a quarter of a second: ten times the inputs.
MANY = settings(max_examples=10 * settings.default.max_examples)


def _dump(data: Any, unicode: bool) -> bytes:
    """YAML bytes of a value."""
    return yaml.safe_dump(data, allow_unicode=unicode, sort_keys=False).encode()


@MANY
@given(YAML_VALUES, st.booleans())
@example({**SPEC, "schedule": {"cron": "0 6 31 2 *"}}, False)  # Dagster refuses it later
@example({**SPEC, "schedule": {"timezone": "America"}}, False)  # IsADirectoryError
@example({**SPEC, "resources": {"duckdb_memory": "99999999999 TB"}}, False)  # DuckDB refuses
@example({**SPEC, "seed": 2**40}, False)  # scikit-learn refuses
@example({**SPEC, "thresholds": {"marginal.ks.warn": float("nan")}}, False)  # never crosses
def test_random_yaml_documents_load_as_spec_or_spec_error(data: Any, unicode: bool) -> None:
    check_spec_file(_dump(data, unicode), "loop.yaml (random documents)")


@MANY
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
@example(b"\xff\xfe")  # UnicodeDecodeError
@example(b"[" * 5000)  # RecursionError
@example(b"seed: 2024-13-45\n")  # ValueError from PyYAML's date constructor
@example(b"a: !!bool maybe\n")  # KeyError from PyYAML's bool constructor
def test_random_bytes_load_as_spec_or_spec_error(data: bytes) -> None:
    check_spec_file(data, "loop.yaml (random bytes)")


@MANY
@given(mutated_specs(), st.booleans())
def test_mutated_specs_load_as_spec_or_spec_error(data: dict[str, Any], unicode: bool) -> None:
    check_spec_file(_dump(data, unicode), "loop.yaml (mutated fields)")


@MANY
@given(mutated_spec_texts())
@example(yaml.safe_dump(SPEC) + "columns: {churned: categorical}\n")  # a key given twice
def test_mutated_spec_texts_load_as_spec_or_spec_error(text: str) -> None:
    check_spec_file(text.encode(), "loop.yaml (mutated text)")


@MANY
@given(mutated_specs())
def test_parse_spec_returns_spec_or_spec_error(data: dict[str, Any]) -> None:
    TRIED["parse_spec (mutated fields)"] += 1
    try:
        parse_spec(data, "fuzz.yaml")
    except SpecError as error:
        OUTCOMES["parse_spec (mutated fields): SpecError"] += 1
        _check_spec_error(error, "fuzz.yaml")
        return
    OUTCOMES["parse_spec (mutated fields): LoopSpec"] += 1
