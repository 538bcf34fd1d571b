"""Check a staged batch against the loop spec and build the SQL that casts it to the spec's types.

Every check is one SQL scan over the staging table; the first failure found becomes a
`Rejection` naming the column, the row (1-based data row) and the offending value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from validation_loop.errors import BatchRejected, Rejection
from validation_loop.home import Source
from validation_loop.readers import StagedBatch
from validation_loop.spec import ColumnType, LoopSpec
from validation_loop.warehouse import aggregate, quote_ident, quote_literal

_NUMERIC_TYPES = (
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
)
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


@dataclass
class ConformedBatch:
    """What a valid batch becomes: SQL expressions per stored column, plus warnings."""

    values: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    annotator_column: str | None = None


def _is_numeric(sql_type: str) -> bool:
    """Whether a DuckDB type name is a number type."""
    return sql_type.upper().startswith(_NUMERIC_TYPES)


def cast_sql(column: str, staged_type: str, target: ColumnType) -> tuple[str, str]:
    """SQL that parses one staged column as `target`: (parsed value, stored value).

    A value fails to cast where the source is not null but the parsed value is.
    """
    col = quote_ident(column)
    staged = staged_type.upper()
    text = col if staged == "VARCHAR" else f"CAST({col} AS VARCHAR)"
    if target is ColumnType.numeric:
        parsed = (
            f"CAST({col} AS DOUBLE)"
            if _is_numeric(staged) or staged == "BOOLEAN"
            else f"TRY_CAST(trim({text}) AS DOUBLE)"
        )
        return parsed, f"CASE WHEN isfinite({parsed}) THEN {parsed} END"
    if target is ColumnType.boolean:
        if staged == "BOOLEAN":
            return col, col
        if _is_numeric(staged):
            parsed = f"CASE WHEN {col} = 1 THEN true WHEN {col} = 0 THEN false END"
        else:
            trues = ", ".join(quote_literal(v) for v in _TRUE)
            falses = ", ".join(quote_literal(v) for v in _FALSE)
            parsed = (
                f"CASE WHEN lower(trim({text})) IN ({trues}) THEN true "
                f"WHEN lower(trim({text})) IN ({falses}) THEN false END"
            )
        return parsed, parsed
    if target is ColumnType.datetime:
        parsed = (
            f"CAST({col} AS TIMESTAMP)"
            if staged.startswith(("TIMESTAMP", "DATE"))
            else f"TRY_CAST(trim({text}) AS TIMESTAMP)"
        )
        return parsed, parsed
    return text, text


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
    casts = {c: cast_sql(c, present[c], spec.columns[c]) for c in stored}
    if annotator is not None:
        casts[annotator] = cast_sql(annotator, present[annotator], ColumnType.text)
    _reject_bad_casts(con, casts, spec, file_name)
    values = {c: stored_sql for c, (_, stored_sql) in casts.items()}
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
    return ConformedBatch(values, warnings, annotator)


def _reject_bad_casts(
    con: duckdb.DuckDBPyConnection,
    casts: dict[str, tuple[str, str]],
    spec: LoopSpec,
    file_name: str,
) -> None:
    """A scan counting, per column, the values that do not cast; reject on the first."""
    parts = []
    for column, (parsed, _) in casts.items():
        bad = f"({quote_ident(column)} IS NOT NULL AND {parsed} IS NULL)"
        parts += [f"count(*) FILTER (WHERE {bad})", f"min(rowid) FILTER (WHERE {bad})"]
    row = aggregate(con, "stage", parts)
    for index, column in enumerate(casts):
        count, first = row[2 * index : 2 * index + 2]
        if count:
            found = con.execute(
                f"SELECT CAST({quote_ident(column)} AS VARCHAR) FROM stage WHERE rowid = ?",
                [first],
            ).fetchone()
            value = found[0] if found else None
            expected = spec.columns[column].value if column in spec.columns else "text"
            more = f" ({count} rows fail)" if count > 1 else ""
            raise BatchRejected(
                file_name,
                Rejection(
                    "bad_value",
                    f"value {value!r} is not {expected}{more}",
                    column=column,
                    row=int(first) + 1,
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
