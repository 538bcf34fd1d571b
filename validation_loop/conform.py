"""Check a staged batch against the loop spec and build the SQL that casts it to the spec's types.

Every check is one SQL scan over the staging table; the first failure found becomes a
`Rejection` naming the column, the row (1-based data row) and the offending value. A value the
cast keeps but changes (a NaN stored as missing, an offset converted to UTC) is counted per
column as a `ValueChange` and becomes a warning on the batch.

Time zones: a datetime value that carries a UTC offset or a zone name (`+02:00`, `Z`, `UTC`,
`EST`) is converted to UTC (with or without seconds before it); a value without one is stored as
written; a column mixing the two is rejected. Parquet timestamps adjusted to UTC are stored in
UTC. The warehouse holds TIMESTAMP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from validation_loop.errors import BatchRejected, Rejection
from validation_loop.home import Source
from validation_loop.readers import StagedBatch
from validation_loop.spec import ColumnType, LoopSpec
from validation_loop.warehouse import aggregate, quote_ident, quote_literal

_NUMERIC_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
}
_TIMESTAMP_TYPES = {"DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"}
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
# A time of day followed by an offset or `Z`/`UTC`/`GMT`: the suffixes DuckDB's TIMESTAMP cast
# accepts and drops (zone names such as `EST` fail that cast and parse only as TIMESTAMPTZ).
_OFFSET = r"(?i):[0-9]{2}(:[0-9]{2}(\.[0-9]*)?)?\s*(z|utc|gmt|[+-][0-9]{1,2}(:?[0-9]{2}){0,2})$"
_BELOW_MICROSECOND = r":[0-9]{2}\.[0-9]{6}[0-9]*[1-9]"
# A time of day of hours and minutes followed by an offset or zone: DuckDB's casts want seconds
_NO_SECONDS = r"^([^ T]+[ T][0-9]{1,2}:[0-9]{2})([^:.,0-9].*)$"
_NONZERO_MANTISSA = r"^[+-]?[0-9]*\.?[0-9]*[1-9]"

CHANGES = {
    "non_finite": "NaN, infinite or out-of-range value(s) stored as missing",
    "underflow": "value(s) too close to zero for a double stored as 0",
    "to_utc": "value(s) with a UTC offset or time zone converted to UTC",
    "sub_microsecond": "value(s) with digits below a microsecond truncated to microseconds",
}  # every kind of change a cast makes to a value it keeps, as the warning words it


@dataclass(frozen=True)
class ValueChange:
    """Values of one column the loop changed on the way in: how, how many, and the first row."""

    column: str
    kind: str
    count: int
    first_row: int

    def describe(self) -> str:
        """The warning: `column 'age': 3 NaN, infinite ... stored as missing (first at row 2)`."""
        return (
            f"column {self.column!r}: {self.count} {CHANGES[self.kind]} "
            f"(first at row {self.first_row})"
        )


@dataclass(frozen=True)
class ColumnCast:
    """SQL that parses one staged column as its spec type.

    `parsed` is NULL where a non-null value does not parse; `stored` is what the warehouse
    keeps; `changes` maps a kind of `CHANGES` to SQL true where the stored value differs from
    the file's; `naive` (text datetimes) is SQL true where a parsed value has no offset.
    """

    parsed: str
    stored: str
    changes: dict[str, str] = field(default_factory=dict)
    naive: str | None = None


@dataclass
class ConformedBatch:
    """What a valid batch becomes: SQL expressions per stored column, plus warnings."""

    values: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    annotator_column: str | None = None
    changes: list[ValueChange] = field(default_factory=list)


def is_numeric_type(sql_type: str) -> bool:
    """Whether a DuckDB type name is a number type (not, say, a list of numbers)."""
    return re.sub(r"\([0-9, ]+\)$", "", sql_type.upper()) in _NUMERIC_TYPES


def _numeric_cast(col: str, staged: str, text: str) -> ColumnCast:
    """Numbers as DOUBLE; NaN and infinities (also overflow such as 1e309) become missing."""
    from_text = not (is_numeric_type(staged) or staged == "BOOLEAN")
    parsed = f"TRY_CAST(trim({text}) AS DOUBLE)" if from_text else f"CAST({col} AS DOUBLE)"
    changes = {"non_finite": f"({parsed} IS NOT NULL AND NOT isfinite({parsed}))"}
    if from_text:  # a decimal string can also be too small for a double
        mantissa = quote_literal(_NONZERO_MANTISSA)
        changes["underflow"] = (
            f"CASE WHEN {parsed} = 0 THEN regexp_matches(trim({text}), {mantissa}) ELSE false END"
        )
    return ColumnCast(parsed, f"CASE WHEN isfinite({parsed}) THEN {parsed} END", changes)


def _boolean_cast(col: str, staged: str, text: str) -> ColumnCast:
    """Booleans from BOOLEAN, 1/0, or the words of `_TRUE` and `_FALSE`."""
    if staged == "BOOLEAN":
        return ColumnCast(col, col)
    if is_numeric_type(staged):
        parsed = f"CASE WHEN {col} = 1 THEN true WHEN {col} = 0 THEN false END"
    else:
        trues = ", ".join(quote_literal(v) for v in _TRUE)
        falses = ", ".join(quote_literal(v) for v in _FALSE)
        parsed = (
            f"CASE WHEN lower(trim({text})) IN ({trues}) THEN true "
            f"WHEN lower(trim({text})) IN ({falses}) THEN false END"
        )
    return ColumnCast(parsed, parsed)


def _datetime_cast(col: str, staged: str, text: str) -> ColumnCast:
    """Timestamps: instants with an offset or zone in UTC, values without one as written; a
    text value needs digits (DuckDB's casts take `epoch` and `infinity`) but not seconds."""
    if staged == "TIMESTAMP WITH TIME ZONE":
        parsed = f"timezone('UTC', {col})"
        return ColumnCast(parsed, parsed)
    if staged in _TIMESTAMP_TYPES:
        parsed = f"CAST({col} AS TIMESTAMP)"
        changes = (
            {"sub_microsecond": f"({col} IS NOT NULL AND epoch_ns({col}) % 1000 <> 0)"}
            if staged == "TIMESTAMP_NS"
            else {}
        )
        return ColumnCast(parsed, parsed, changes)
    value = f"trim({text})"
    naive = f"TRY_CAST({value} AS TIMESTAMP)"
    seconds = f"regexp_replace({value}, {quote_literal(_NO_SECONDS)}, '\\1:00\\2')"
    zoned = f"coalesce(TRY_CAST({value} AS TIMESTAMPTZ), TRY_CAST({seconds} AS TIMESTAMPTZ))"
    has_zone = (  # the slower TIMESTAMPTZ cast only where the TIMESTAMP cast fails
        f"(CASE WHEN {naive} IS NULL THEN {zoned} IS NOT NULL "
        f"ELSE regexp_matches({value}, {quote_literal(_OFFSET)}) END)"
    )
    parsed = (  # DuckDB also casts the words `epoch`, `infinity` and `inf`: no dates
        f"CASE WHEN NOT regexp_matches({value}, '[0-9]') THEN NULL "
        f"WHEN {has_zone} THEN timezone('UTC', {zoned}) ELSE {naive} END"
    )
    below = f"regexp_matches({value}, {quote_literal(_BELOW_MICROSECOND)})"
    return ColumnCast(
        parsed,
        parsed,
        {
            "to_utc": has_zone,
            "sub_microsecond": f"(CASE WHEN contains({value}, '.') THEN {below} ELSE false END)",
        },
        naive=f"({naive} IS NOT NULL AND NOT {has_zone})",
    )


def cast_sql(column: str, staged_type: str, target: ColumnType) -> ColumnCast:
    """SQL that parses one staged column (named as in the staging table) as `target`, and
    finds the values it changes.

    A value fails to cast where the source is not null but the parsed value is.
    """
    col = quote_ident(column)
    staged = staged_type.upper()
    text = col if staged == "VARCHAR" else f"CAST({col} AS VARCHAR)"
    if target is ColumnType.numeric:
        return _numeric_cast(col, staged, text)
    if target is ColumnType.boolean:
        return _boolean_cast(col, staged, text)
    if target is ColumnType.datetime:
        return _datetime_cast(col, staged, text)
    return ColumnCast(text, text)


def _required_columns(spec: LoopSpec, source: Source) -> list[str]:
    """Columns a batch of this source must carry."""
    required = list(spec.columns)
    if source == "synthetic" and spec.id_column is not None:
        required.remove(spec.id_column)
    if source == "human" and spec.annotations.format == "long":
        assert spec.annotations.annotator_column is not None
        required.append(spec.annotations.annotator_column)
    return required


def conform(
    con: duckdb.DuckDBPyConnection,
    staged: StagedBatch,
    spec: LoopSpec,
    source: Source,
    file_name: str,
) -> ConformedBatch:
    """Check the staged batch against the spec; return its cast SQL or raise `BatchRejected`."""
    present = staged.columns
    required = _required_columns(spec, source)
    missing = [c for c in required if c not in present]
    if missing:
        raise BatchRejected(
            file_name,
            Rejection(
                "missing_column",
                f"required column is missing (missing: {', '.join(missing)}; "
                f"file has: {', '.join(present)})",
                column=missing[0],
            ),
        )
    long_format = source == "human" and spec.annotations.format == "long"
    annotator = spec.annotations.annotator_column if long_format else None
    extra = [c for c in present if c not in spec.columns and c != annotator]
    warnings: list[str] = []
    if extra and spec.strict_columns:
        raise BatchRejected(
            file_name,
            Rejection(
                "extra_column",
                f"column is not in the spec and strict_columns is set (extra: {', '.join(extra)})",
                column=extra[0],
            ),
        )
    if extra:
        warnings.append(f"dropped {len(extra)} column(s) not in the spec: {', '.join(extra)}")

    stored = [c for c in spec.columns if c in present]
    targets = {c: spec.columns[c] for c in stored}
    if annotator is not None:
        targets[annotator] = ColumnType.text
    casts = {c: cast_sql(staged.staged_name(c), present[c], t) for c, t in targets.items()}
    changes = _check_values(con, casts, staged, spec, file_name)
    values = {c: cast.stored for c, cast in casts.items()}
    _reject_missing_keys(con, values, spec, annotator, file_name)
    if long_format:
        assert spec.item_column is not None and annotator is not None
        _reject_duplicates(
            con,
            [values[spec.item_column], values[annotator]],
            [spec.item_column, annotator],
            "duplicate_judgement",
            file_name,
        )
        _reject_inconsistent_items(con, values, spec, annotator, file_name)
    elif spec.id_column is not None and spec.id_column in values:
        _reject_duplicates(
            con, [values[spec.id_column]], [spec.id_column], "duplicate_id", file_name
        )
    warnings += [change.describe() for change in changes]
    return ConformedBatch(values, warnings, annotator, changes)


@dataclass(frozen=True)
class _Tally:
    """How many staged rows meet a condition, and the first of them (its rowid)."""

    count: int
    first: int | None


def _check_values(
    con: duckdb.DuckDBPyConnection,
    casts: dict[str, ColumnCast],
    staged: StagedBatch,
    spec: LoopSpec,
    file_name: str,
) -> list[ValueChange]:
    """One scan (per chunk of columns) counting, per column, the values that do not cast, the
    values the cast changes and the datetimes without an offset (and a second for the first
    row of each condition met). Rejects on the first column
    with a bad value, then on a column mixing offsets with none; returns the changes."""
    conditions: dict[tuple[str, str], str] = {}
    for column, cast in casts.items():
        source = quote_ident(staged.staged_name(column))
        conditions[column, "bad"] = f"({source} IS NOT NULL AND {cast.parsed} IS NULL)"
        conditions.update({(column, kind): sql for kind, sql in cast.changes.items()})
        if cast.naive is not None:
            conditions[column, "naive"] = cast.naive
    counts = aggregate(con, "stage", [f"count_if({sql})" for sql in conditions.values()])
    met = [key for key, count in zip(conditions, counts, strict=True) if count]
    # the first row only where a condition is met: filtered aggregates cost several times more
    firsts = aggregate(con, "stage", [f"min(rowid) FILTER (WHERE {conditions[k]})" for k in met])
    first = dict(zip(met, firsts, strict=True))
    tallies = {
        key: _Tally(int(count), first.get(key))
        for key, count in zip(conditions, counts, strict=True)
    }
    for column in casts:
        _reject_bad_value(con, staged, column, tallies[column, "bad"], spec, file_name)
    for column, cast in casts.items():
        if cast.naive is not None:
            zoned, naive = tallies[column, "to_utc"], tallies[column, "naive"]
            _reject_mixed_zones(con, staged, column, zoned, naive, file_name)
    return [
        ValueChange(column, kind, tally.count, tally.first + 1)
        for (column, kind), tally in tallies.items()
        if kind in CHANGES and tally.count and tally.first is not None
    ]


def _staged_text(
    con: duckdb.DuckDBPyConnection, staged: StagedBatch, column: str, rowid: int
) -> str | None:
    """One staged value as text (for a message)."""
    source = quote_ident(staged.staged_name(column))
    found = con.execute(
        f"SELECT CAST({source} AS VARCHAR) FROM stage WHERE rowid = ?", [rowid]
    ).fetchone()
    return found[0] if found else None


def _reject_bad_value(
    con: duckdb.DuckDBPyConnection,
    staged: StagedBatch,
    column: str,
    bad: _Tally,
    spec: LoopSpec,
    file_name: str,
) -> None:
    """Reject when a column has values that do not cast; name the first."""
    if not bad.count or bad.first is None:
        return
    value = _staged_text(con, staged, column, bad.first)
    expected = spec.columns[column].value if column in spec.columns else "text"
    more = f" ({bad.count} rows fail)" if bad.count > 1 else ""
    raise BatchRejected(
        file_name,
        Rejection(
            "bad_value",
            f"value {value!r} is not {expected}{more}",
            column=column,
            row=bad.first + 1,
        ),
    )


def _reject_mixed_zones(
    con: duckdb.DuckDBPyConnection,
    staged: StagedBatch,
    column: str,
    zoned: _Tally,
    naive: _Tally,
    file_name: str,
) -> None:
    """Reject a datetime column where some values carry a UTC offset and some do not: the
    instant a value without one means cannot be told. Names the first value that breaks the
    column's first pattern."""
    if zoned.first is None or naive.first is None:
        return
    with_zone = _staged_text(con, staged, column, zoned.first)
    without = _staged_text(con, staged, column, naive.first)
    if naive.first > zoned.first:
        row, other = naive.first + 1, zoned.first + 1
        clash = f"value {without!r} has no UTC offset, but row {other} has one ({with_zone!r})"
    else:
        row, other = zoned.first + 1, naive.first + 1
        clash = f"value {with_zone!r} has a UTC offset, but row {other} has none ({without!r})"
    raise BatchRejected(
        file_name,
        Rejection(
            "mixed_time_zones",
            f"{clash}; give every value of the column an offset, or none "
            f"({zoned.count} with, {naive.count} without)",
            column=column,
            row=row,
        ),
    )


def _reject_missing_keys(
    con: duckdb.DuckDBPyConnection,
    values: dict[str, str],
    spec: LoopSpec,
    annotator: str | None,
    file_name: str,
) -> None:
    """Reject rows with no label, and (long format) no item or annotator id."""
    keys = [spec.label]
    if annotator is not None:
        assert spec.item_column is not None
        keys += [spec.item_column, annotator]
    parts = ", ".join(f"min(rowid) FILTER (WHERE {values[k]} IS NULL)" for k in keys)
    row = con.execute(f"SELECT {parts} FROM stage").fetchone()
    assert row is not None
    for key, first in zip(keys, row, strict=True):
        if first is not None:
            what = "label" if key == spec.label else "id"
            raise BatchRejected(
                file_name,
                Rejection(f"missing_{what}", f"{what} is missing", column=key, row=int(first) + 1),
            )


def _reject_duplicates(
    con: duckdb.DuckDBPyConnection,
    exprs: list[str],
    names: list[str],
    kind: str,
    file_name: str,
) -> None:
    """Reject when a key (one or more columns) repeats; name the key and its rows."""
    keys = ", ".join(exprs)
    row = con.execute(
        f"SELECT [{', '.join(f'CAST({e} AS VARCHAR)' for e in exprs)}], "
        f"list(rowid + 1 ORDER BY rowid) FROM stage WHERE {exprs[0]} IS NOT NULL "
        f"GROUP BY {keys} HAVING count(*) > 1 ORDER BY min(rowid) LIMIT 1"
    ).fetchone()
    if row is None:
        return
    key_values, rows = row
    shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
    described = ", ".join(f"{n}={v!r}" for n, v in zip(names, key_values, strict=True))
    raise BatchRejected(
        file_name,
        Rejection(
            kind,
            f"{described} appears {len(rows)} times (rows {shown})",
            column=names[-1],
            row=int(rows[1]),
        ),
    )


def _reject_inconsistent_items(
    con: duckdb.DuckDBPyConnection,
    values: dict[str, str],
    spec: LoopSpec,
    annotator: str,
    file_name: str,
) -> None:
    """Long format: an item's features must be the same on each of its judgements."""
    assert spec.item_column is not None
    item = values[spec.item_column]
    features = [c for c in values if c not in (spec.label, spec.item_column, annotator)]
    if not features:
        return
    checks = ", ".join(
        f"count(DISTINCT {values[c]}) + max(CASE WHEN {values[c]} IS NULL THEN 1 ELSE 0 END)"
        f" > 1 AS {quote_ident(c)}"
        for c in features
    )
    row = con.execute(
        f"SELECT * FROM (SELECT CAST({item} AS VARCHAR) AS _item, min(rowid) + 1 AS _first, "
        f"{checks} FROM stage GROUP BY {item}) "
        f"WHERE {' OR '.join(quote_ident(c) for c in features)} ORDER BY _first LIMIT 1"
    ).fetchone()
    if row is None:
        return
    column = features[[bool(v) for v in row[2:]].index(True)]
    raise BatchRejected(
        file_name,
        Rejection(
            "inconsistent_item",
            f"item {row[0]!r} has different values of this column on its judgements",
            column=column,
            row=int(row[1]),
        ),
    )
