"""Nearest-neighbour distances against the definition, computed pair by pair in plain Python."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from validation_loop.gaps import encoding
from validation_loop.gaps.encoding import MixedEncoder, nearest_distances


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(size=rows)
    amount[rng.random(rows) < 0.1] = np.nan
    colour = rng.choice([f"c{i}" for i in range(25)], size=rows).astype(object)
    colour[rng.random(rows) < 0.1] = None
    return pd.DataFrame(
        {"amount": amount, "age": rng.integers(18, 90, rows).astype(float), "colour": colour}
    )


def _by_definition(reference: pd.DataFrame, query: pd.Series, encoder: MixedEncoder) -> float:
    """Gower-like distance of the module docstring, to every reference row; the smallest."""
    best = math.inf
    top = set(encoder.levels_["colour"])
    for _, row in reference.iterrows():
        total = 0.0
        for column in ("amount", "age"):
            a, b = query[column], row[column]
            center, scale = encoder.centers_[column], encoder.scales_[column]
            a_value = center if pd.isna(a) else a
            b_value = center if pd.isna(b) else b
            total += abs(a_value - b_value) / scale + abs(pd.isna(a) - pd.isna(b))
        a_level = query["colour"] if query["colour"] in top else "other"
        b_level = row["colour"] if row["colour"] in top else "other"
        total += a_level != b_level
        best = min(best, total)
    return best


def test_distances_follow_the_definition() -> None:
    reference, queries = _frame(60, 0), _frame(25, 1)
    encoder = MixedEncoder(["amount", "age"], ["colour"]).fit(reference)
    found = nearest_distances(encoder.transform(reference), encoder.transform(queries), False)
    expected = [_by_definition(reference, row, encoder) for _, row in queries.iterrows()]
    assert found == pytest.approx(expected, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("chunk_cells", [encoding.CHUNK_CELLS, 300])  # one step, or many
def test_self_match_skips_only_the_row_itself(
    chunk_cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(encoding, "CHUNK_CELLS", chunk_cells)
    frame = _frame(40, 2)
    frame.iloc[7] = frame.iloc[3]  # an exact duplicate: its nearest other row is at 0
    encoder = MixedEncoder(["amount", "age"], ["colour"]).fit(frame)
    encoded = encoder.transform(frame)
    found = nearest_distances(encoded, encoded, True)
    expected = [
        _by_definition(frame.drop(index=i), frame.iloc[i], encoder) for i in range(len(frame))
    ]
    assert found == pytest.approx(expected, rel=1e-5, abs=1e-5)
    assert found[3] == 0 and found[7] == 0 and (np.delete(found, [3, 7]) > 0).all()
