"""Exact matches in one pass of hashes agree with pandas' own duplicate and merge counts."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from validation_loop.gaps.matches import exact_matches, holdout_sql


def _side(rng: np.random.Generator, rows: int, batch: str) -> pd.DataFrame:
    """Few distinct values, so that duplicates and copies are common; some missing."""
    frame = pd.DataFrame(
        {
            "x": rng.integers(0, 4, rows).astype(float),
            "c": rng.choice(["a", "b", None], rows),
            "_batch_id": batch,
            "_row": np.arange(rows),
        }
    )
    frame.loc[rng.random(rows) < 0.1, "x"] = np.nan
    return frame


def test_counts_equal_pandas_duplicates_and_merges() -> None:
    rng = np.random.default_rng(3)
    human, synthetic = _side(rng, 400, "h"), _side(rng, 300, "s")
    synthetic.loc[:9, ["x", "c"]] = [[99.0, "z"]] * 10  # ten rows only synthetic has
    con = duckdb.connect()
    con.register("human", human)
    con.register("synthetic", synthetic)
    held = con.execute(f"SELECT {holdout_sql(7)} FROM human ORDER BY _row").fetchnumpy()
    in_holdout = next(iter(held.values())).astype(bool)

    found = exact_matches(con, "human", "synthetic", ["x", "c"], 7)

    key = ["x", "c"]  # pandas matches NaN with NaN and None with None, as IS NOT DISTINCT does
    seen = human.loc[~in_holdout, key].drop_duplicates()
    holdout = human.loc[in_holdout, key]
    assert found.human_duplicates == int(human.duplicated(key).sum())
    assert found.synthetic_duplicates == int(synthetic.duplicated(key).sum())
    assert found.copies == len(synthetic[key].merge(seen, on=key)) > 0
    assert found.holdout_copies == len(holdout.merge(seen, on=key)) > 0
    assert found.holdout_rows == len(holdout) > 0
    assert found.copies <= len(synthetic) - 10
