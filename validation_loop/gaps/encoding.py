"""A mixed-type row encoding for distances, and nearest-neighbour distances on bounded samples.

Numeric columns are centred on the human median and divided by the human 1%-99% span, missing
values set to the median with a 0/1 missing flag; categorical columns are one-hot over the human
side's 20 most common values (the rest share one "other" slot), each one-hot scaled by 0.5 so a
mismatch costs 1. With the Manhattan metric a distance is then a Gower-like sum over columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

TOP_CATEGORIES = 20


@dataclass
class MixedEncoder:
    """Fitted on human rows; turns any frame with the same columns into a float matrix."""

    numeric: list[str]
    categorical: list[str]
    centers_: dict[str, float] = field(default_factory=dict)
    scales_: dict[str, float] = field(default_factory=dict)
    levels_: dict[str, list[str]] = field(default_factory=dict)

    def fit(self, frame: pd.DataFrame) -> MixedEncoder:
        """Learn medians, spans and the most common categories from human rows."""
        for column in self.numeric:
            values = frame[column].to_numpy(dtype=float)
            values = values[~np.isnan(values)]
            if values.size == 0:
                self.centers_[column], self.scales_[column] = 0.0, 1.0
                continue
            low, median, high = np.quantile(values, [0.01, 0.5, 0.99])
            self.centers_[column] = float(median)
            self.scales_[column] = float(high - low) or float(np.std(values)) or 1.0
        for column in self.categorical:
            counts = frame[column].dropna().astype(str).value_counts()
            self.levels_[column] = sorted(counts.index[:TOP_CATEGORIES].tolist())
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The encoded matrix (float32), one row per frame row."""
        blocks = []
        for column in self.numeric:
            values = frame[column].to_numpy(dtype=float)
            missing = np.isnan(values)
            scaled = (np.where(missing, self.centers_[column], values) - self.centers_[column]) / (
                self.scales_[column]
            )
            blocks += [scaled, missing.astype(float)]
        for column in self.categorical:
            levels = self.levels_[column]
            index = {level: code for code, level in enumerate(levels)}
            codes = frame[column].astype("object").map(index).fillna(len(levels)).astype(int)
            onehot = np.zeros((len(frame), len(levels) + 1))
            onehot[np.arange(len(frame)), codes.to_numpy()] = 0.5
            blocks.append(onehot)
        if not blocks:
            return np.zeros((len(frame), 0), dtype=np.float32)
        columns = [b if b.ndim == 2 else b[:, None] for b in blocks]
        return np.hstack(columns).astype(np.float32)


def nearest_distances(reference: np.ndarray, queries: np.ndarray, self_match: bool) -> np.ndarray:
    """Manhattan distance from each query row to its nearest reference row.

    With `self_match`, queries are the reference rows themselves and each row's own zero
    distance is skipped (the nearest *other* row).
    """
    if len(reference) == 0 or len(queries) == 0 or (self_match and len(reference) < 2):
        return np.array([], dtype=float)
    neighbours = 2 if self_match else 1
    index = NearestNeighbors(n_neighbors=neighbours, metric="manhattan").fit(reference)
    distances, _ = index.kneighbors(queries)
    return distances[:, -1].astype(float)
