"""Exact row matches, counted in one pass per side: duplicates within a side, copies across.

Every row of both sides is reduced to a 64-bit hash of its compared columns (missing values
hash alike, so they match as `IS NOT DISTINCT FROM` would). From those hashes one query counts
the rows that repeat an earlier row of their own side, the synthetic rows equal to a human row
outside the holdout, and the holdout rows equal to one: a seeded `HOLDOUT_SHARE` of the human
rows that plays the part of fresh real data. Two different rows share a hash with probability
about 2^-64 per pair (about 5e-8 for a million rows against a million).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from validation_loop.warehouse import quote_ident

HOLDOUT_SHARE = 0.2


@dataclass(frozen=True)
class ExactMatches:
    """Exact-match counts of one comparison."""

    human_duplicates: int
    synthetic_duplicates: int
    copies: int
    holdout_copies: int
    holdout_rows: int


def holdout_sql(seed: int) -> str:
    """SQL predicate that puts a human row (by `_batch_id`, `_row`) in the holdout."""
    return f"hash(_batch_id, _row, {int(seed) + 1}) % 100 < {int(HOLDOUT_SHARE * 100)}"


def exact_matches(
    con: duckdb.DuckDBPyConnection, human: str, synthetic: str, columns: list[str], seed: int
) -> ExactMatches:
    """Count duplicates on each side and copies of human rows, over `columns` of the relations."""
    key = f"hash({', '.join(quote_ident(c) for c in columns)})"
    row = con.execute(
        f"WITH h AS MATERIALIZED (SELECT {key} AS k, {holdout_sql(seed)} AS held FROM {human}), "
        f"s AS MATERIALIZED (SELECT {key} AS k FROM {synthetic}), "
        "seen AS MATERIALIZED (SELECT DISTINCT k FROM h WHERE NOT held) "
        "SELECT (SELECT count(*) - count(DISTINCT k) FROM h), "
        "(SELECT count(*) - count(DISTINCT k) FROM s), "
        "(SELECT count(*) FROM s SEMI JOIN seen USING (k)), "
        "(SELECT count(*) FROM (SELECT k FROM h WHERE held) SEMI JOIN seen USING (k)), "
        "(SELECT count(*) FROM h WHERE held)"
    ).fetchone()
    assert row is not None
    return ExactMatches(*(int(v) for v in row))
