"""The loop's GX expectation suite: generated from the spec and human data, edited by people.

The suite lives beside the spec as GX JSON (`loops/<name>/expectations.json`). Generated entries
carry `meta.generated_by = "validation_loop"` and the arguments they were generated with;
regeneration updates only generated entries nobody has edited, adds what is missing, and keeps
every entry a person wrote or changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
from great_expectations.exceptions import ExpectationNotFoundError
from great_expectations.expectations.registry import get_expectation_impl

from validation_loop.atomic import write_text
from validation_loop.errors import SpecError
from validation_loop.spec import ColumnType, LoopSpec
from validation_loop.warehouse import DISTINCT_AGGREGATES_PER_SCAN, aggregate, quote_ident

GENERATOR = "validation_loop"
SUITE_FILE = "expectations.json"
# GX's names for the pandas dtypes a warehouse column arrives as (text as StringDtype).
TYPE_LISTS: dict[ColumnType, list[str]] = {
    ColumnType.numeric: ["float64"],
    ColumnType.categorical: ["StringDtype"],
    ColumnType.text: ["StringDtype"],
    ColumnType.boolean: ["BooleanDtype", "bool"],
    ColumnType.datetime: ["datetime64[us]", "datetime64[ns]"],
}
COLUMN_KWARGS = ("column", "column_A", "column_B")
LIST_KWARGS = ("column_list", "column_set")


class SuiteError(SpecError):
    """A suite file that cannot be used; names the file and the entry."""


def human_profile(
    con: duckdb.DuckDBPyConnection, relation: str, spec: LoopSpec
) -> dict[str, dict[str, Any]]:
    """Per column: rows, nulls, min and max (numeric), distinct values (up to the cap)."""
    cap = spec.quality.max_categories
    parts = ["count(*)"]
    for column, kind in spec.columns.items():
        col = quote_ident(column)
        parts.append(f"count({col})")
        if kind is ColumnType.numeric:
            parts += [f"min({col})", f"max({col})"]
        elif kind in (ColumnType.categorical, ColumnType.boolean):
            parts.append(
                f"CASE WHEN count(DISTINCT {col}) <= {cap} THEN "
                f"list(DISTINCT {col} ORDER BY {col}) FILTER (WHERE {col} IS NOT NULL) END"
            )
    values = iter(aggregate(con, relation, parts, DISTINCT_AGGREGATES_PER_SCAN))
    rows = int(next(values))
    profile: dict[str, dict[str, Any]] = {}
    for column, kind in spec.columns.items():
        entry: dict[str, Any] = {"rows": rows, "nulls": rows - int(next(values))}
        if kind is ColumnType.numeric:
            entry["min"], entry["max"] = next(values), next(values)
        elif kind in (ColumnType.categorical, ColumnType.boolean):
            entry["values"] = list(next(values) or [])
        profile[column] = entry
    return profile


def _expectation(kind: str, severity: str, **kwargs: Any) -> dict[str, Any]:
    """A generated expectation entry in GX JSON form."""
    return {
        "type": kind,
        "kwargs": kwargs,
        "severity": severity,
        "meta": {
            "generated_by": GENERATOR,
            "generated_kwargs": kwargs,
            "generated_severity": severity,
        },
    }


def _widened(low: float, high: float, tolerance: float) -> tuple[float, float]:
    """A range widened on both sides by `tolerance` times its width (or by 1 if it is a point)."""
    margin = (high - low) * tolerance if high > low else max(abs(high) * tolerance, 1.0)
    return low - margin, high + margin


def generated_expectations(spec: LoopSpec, profile: dict[str, dict[str, Any]]) -> list[dict]:
    """The expectations the spec and the human profile imply.

    Critical (they make a batch unusable): the column set, each column's type, a unique id, the
    label's values or range. Warning: no nulls where human data has none, numeric ranges
    widened by `quality.range_tolerance`, the categories human data shows.
    """
    tolerance = spec.quality.range_tolerance
    entries = [
        _expectation(
            "expect_table_columns_to_match_set",
            "critical",
            column_set=list(spec.columns),
            exact_match=True,
        )
    ]
    for column, kind in spec.columns.items():
        info = profile.get(column, {"rows": 0, "nulls": 0})
        is_label = column == spec.label
        entries.append(
            _expectation(
                "expect_column_values_to_be_in_type_list",
                "critical",
                column=column,
                type_list=TYPE_LISTS[kind],
            )
        )
        if column == spec.id_column:
            entries.append(
                _expectation("expect_column_values_to_be_unique", "critical", column=column)
            )
            continue
        if info["rows"] and info["nulls"] == 0:
            entries.append(
                _expectation(
                    "expect_column_values_to_not_be_null",
                    "critical" if is_label else "warning",
                    column=column,
                )
            )
        severity = "critical" if is_label else "warning"
        low, high = info.get("min"), info.get("max")
        if kind is ColumnType.numeric and low is not None and high is not None:
            low, high = _widened(float(low), float(high), tolerance)
            entries.append(
                _expectation(
                    "expect_column_values_to_be_between",
                    severity,
                    column=column,
                    min_value=low,
                    max_value=high,
                )
            )
        values = info.get("values")
        if values and kind is not ColumnType.boolean:
            entries.append(
                _expectation(
                    "expect_column_values_to_be_in_set",
                    severity,
                    column=column,
                    value_set=[str(v) for v in values],
                )
            )
    return entries


def _key(entry: dict[str, Any]) -> tuple[str, str]:
    """What makes two entries 'the same expectation': its type and its columns."""
    kwargs = entry.get("kwargs", {})
    columns = [kwargs[k] for k in COLUMN_KWARGS if k in kwargs]
    for key in LIST_KWARGS:
        columns += list(kwargs.get(key) or [])
    return entry.get("type", ""), ",".join(str(c) for c in columns)


def merge(existing: list[dict[str, Any]], generated: list[dict[str, Any]]) -> list[dict]:
    """Existing entries with unedited generated ones refreshed (or dropped when no longer
    generated), plus generated ones missing; edited and hand-written entries stay as they are."""
    fresh = {_key(e): e for e in generated}
    merged = []
    for entry in existing:
        meta = entry.get("meta") or {}
        key = _key(entry)
        unedited = (
            meta.get("generated_by") == GENERATOR
            and meta.get("generated_kwargs") == entry.get("kwargs")
            and meta.get("generated_severity", entry.get("severity")) == entry.get("severity")
        )
        replacement = fresh.pop(key, None)
        if not unedited:
            merged.append(entry)
        elif replacement is not None:
            merged.append(replacement)
    return merged + list(fresh.values())


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The suite file's expectation entries (empty if there is no file)."""
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SuiteError(
            str(path), [f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise SuiteError(str(path), ["expected an object with an 'expectations' list"])
    return data["expectations"]


def write_suite(path: Path, spec: LoopSpec, entries: list[dict[str, Any]]) -> None:
    """Write the suite as GX JSON."""
    document = {"name": spec.name, "expectations": entries, "meta": {"generated_by": GENERATOR}}
    write_text(path, json.dumps(document, indent=2, default=str) + "\n")


def regenerate_suite(path: Path, spec: LoopSpec, profile: dict[str, dict[str, Any]]) -> int:
    """Refresh the suite file from a human profile; returns how many entries it holds."""
    entries = merge(read_entries(path), generated_expectations(spec, profile))
    write_suite(path, spec, entries)
    return len(entries)


def entry_columns(entry: dict[str, Any]) -> list[str]:
    """The columns an entry reads (empty for a table-level expectation)."""
    kwargs = entry.get("kwargs", {})
    columns = [kwargs[k] for k in COLUMN_KWARGS if k in kwargs]
    if "column_list" in kwargs:
        columns += list(kwargs["column_list"])
    return [str(c) for c in columns]


def load_suite(path: Path, spec: LoopSpec) -> list[dict[str, Any]]:
    """Read and check the suite's entries: known types, spec columns, arguments GX accepts."""
    entries = read_entries(path)
    problems = []
    for index, entry in enumerate(entries, start=1):
        kind = entry.get("type") if isinstance(entry, dict) else None
        where = f"entry {index} ({kind or 'no type'})"
        if not isinstance(kind, str):
            problems.append(f"{where}: missing 'type'")
            continue
        try:
            get_expectation_impl(kind)
        except ExpectationNotFoundError:
            problems.append(f"{where}: unknown expectation type {kind!r}")
            continue
        named = entry_columns(entry) + list(entry.get("kwargs", {}).get("column_set") or [])
        unknown = [c for c in named if c not in spec.columns]
        if unknown:
            problems.append(f"{where}: column {unknown[0]!r} is not in the spec")
            continue
        try:
            gx.ExpectationSuite(name="check", expectations=[_without_id(entry)])
        except ValueError as exc:  # GX (pydantic) checks the arguments
            reason = " ".join(str(exc).split())
            problems.append(f"{where}: GX rejects its arguments: {reason}")
    if problems:
        raise SuiteError(str(path), problems)
    return [_without_id(e) for e in entries]


def _without_id(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry without the id GX adds when it saves (ids are given on load)."""
    return {k: v for k, v in entry.items() if k != "id"}
