"""Which rows a loop compares: all human truth against the current generator's synthetic batches."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from validation_loop.gaps.inputs import sample_sql
from validation_loop.quality.results import usable_batches
from validation_loop.spec import LoopSpec
from validation_loop.warehouse import quote_ident, quote_literal, table_exists


@dataclass(frozen=True)
class Comparison:
    """The batches on each side of a comparison and the SQL that reads them."""

    human_batches: list[str]
    synthetic_batches: list[str]
    generator_version: str | None
    human_sql: str
    synthetic_sql: str


def _ids(batches: list[str]) -> str:
    """A SQL list of batch ids."""
    return ", ".join(quote_literal(b) for b in batches)


def _human_truth_sql(con: duckdb.DuckDBPyConnection, spec: LoopSpec, batches: list[str]) -> str:
    """Human rows of these batches; with label quality, consensus labels and no flagged items."""
    schema = quote_ident(spec.name)
    where = f"h._batch_id IN ({_ids(batches)})"
    if not table_exists(con, spec.name, "item_quality") or spec.item_column is None:
        return f"SELECT h.* FROM {schema}.human h WHERE {where}"
    label = quote_ident(spec.label)
    label_type = spec.columns[spec.label].sql_type
    return (
        f"SELECT h.* REPLACE (coalesce(CAST(q.consensus AS {label_type}), h.{label}) AS {label}) "
        f"FROM {schema}.human h LEFT JOIN {schema}.item_quality q "
        f"ON CAST(h.{quote_ident(spec.item_column)} AS VARCHAR) = q.item_id "
        f"WHERE {where} AND q.flagged IS NOT TRUE"
    )


def _usable(con: duckdb.DuckDBPyConnection, spec: LoopSpec) -> list[tuple[str, str, str | None]]:
    """(batch id, source, generator version) of the usable batches, oldest first."""
    usable = usable_batches(con, spec.name)
    rows = con.execute(
        "SELECT batch_id, source, generator_version FROM batches WHERE loop = ? "
        "ORDER BY ingested_at, batch_id",
        [spec.name],
    ).fetchall()
    return [(str(b), str(source), v) for b, source, v in rows if b in usable]


def seeded_sample(con: duckdb.DuckDBPyConnection, spec: LoopSpec, sql: str) -> pd.DataFrame:
    """A seeded sample of a relation (with `_batch_id`, `_row`), at most `sample_rows` rows,
    without those two columns: the rows the gap checks sample, by the same seeded hash."""
    row = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()
    total = int(row[0]) if row else 0
    return con.execute(sample_sql(f"({sql})", spec.sample_rows, total, spec.seed)).df()


def human_truth(con: duckdb.DuckDBPyConnection, spec: LoopSpec) -> str | None:
    """SQL of the human truth over every usable human batch; None without one."""
    human = [b for b, source, _ in _usable(con, spec) if source == "human"]
    return _human_truth_sql(con, spec, human) if human else None


def current_comparison(con: duckdb.DuckDBPyConnection, spec: LoopSpec) -> Comparison | None:
    """Every usable human batch against the synthetic batches of the newest generator version.

    Only validated batches whose suite passed at error severity count. The newest synthetic
    batch decides the version; without a version it is compared alone. None when either side
    has no usable batch.
    """
    rows = _usable(con, spec)
    human = [b for b, source, _ in rows if source == "human"]
    synthetic = [(b, v) for b, source, v in rows if source == "synthetic"]
    if not human or not synthetic:
        return None
    newest_batch, version = synthetic[-1]
    current = [b for b, v in synthetic if v == version] if version else [newest_batch]
    return comparison_of(con, spec, human, current, version)


def comparison_of(
    con: duckdb.DuckDBPyConnection,
    spec: LoopSpec,
    human: list[str],
    synthetic: list[str],
    version: str | None,
) -> Comparison:
    """The comparison of these human and synthetic batches."""
    schema = quote_ident(spec.name)
    return Comparison(
        human_batches=human,
        synthetic_batches=synthetic,
        generator_version=version,
        human_sql=_human_truth_sql(con, spec, human),
        synthetic_sql=f"SELECT * FROM {schema}.synthetic WHERE _batch_id IN ({_ids(synthetic)})",
    )
