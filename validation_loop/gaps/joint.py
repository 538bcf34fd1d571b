"""Joint counts of column pairs on the bounded samples, through integer codes.

Categorical columns are coded over both samples together; numeric columns by one of 10
equal-width bins over the human range, the outer bins open-ended (SDMetrics' discretisation for
ContingencySimilarity). A missing value is a level of its own, so a pair's table covers every
row. Counting a pair is then one `bincount` per side.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from validation_loop.gaps.inputs import GapInputs

NUMERIC_BINS = 10
MISSING = "(missing)"
Table = dict[tuple[str, str], int]


def equal_width_edges(human: np.ndarray) -> np.ndarray:
    """The inner edges of 10 equal-width bins over the human values (NaN ignored)."""
    present = human[~np.isnan(human)]
    return np.histogram_bin_edges(present if present.size else [0.0, 1.0], NUMERIC_BINS)[1:-1]


class JointCounter:
    """Codes each column once per comparison and counts pairs on demand."""

    def __init__(self, inputs: GapInputs) -> None:
        self.inputs = inputs
        self._codes: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}

    def codes(self, column: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Human codes, synthetic codes and the level of each code."""
        if column not in self._codes:
            human = self.inputs.human_sample[column]
            synthetic = self.inputs.synthetic_sample[column]
            if column in self.inputs.columns.numeric:
                self._codes[column] = self._binned(human, synthetic)
            else:
                both = pd.concat([human, synthetic], ignore_index=True).astype("object")
                codes, levels = pd.factorize(both, use_na_sentinel=True)
                codes = np.where(codes < 0, len(levels), codes)
                self._codes[column] = (
                    codes[: len(human)],
                    codes[len(human) :],
                    [*(str(v) for v in levels), MISSING],
                )
        return self._codes[column]

    @staticmethod
    def _binned(human: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Equal-width bin codes of a numeric column, missing values in a bin of their own."""
        h = human.to_numpy(dtype=float)
        s = synthetic.to_numpy(dtype=float)
        edges = equal_width_edges(h)
        bounds = [-np.inf, *edges.tolist(), np.inf]
        levels = [f"[{low:.4g}, {high:.4g})" for low, high in itertools.pairwise(bounds)]

        def code(values: np.ndarray) -> np.ndarray:
            bins = np.searchsorted(edges, values, side="right")
            return np.where(np.isnan(values), len(levels), bins)

        return code(h), code(s), [*levels, MISSING]

    def tables(self, a: str, b: str) -> tuple[Table, Table]:
        """Counts of each (a, b) cell in each sample (every row counts)."""
        ha, sa, levels_a = self.codes(a)
        hb, sb, levels_b = self.codes(b)
        width = len(levels_b)

        def count(x: np.ndarray, y: np.ndarray) -> Table:
            cells = np.bincount(x * width + y, minlength=len(levels_a) * width)
            return {
                (levels_a[i // width], levels_b[i % width]): int(cells[i])
                for i in np.flatnonzero(cells)
            }

        return count(ha, hb), count(sa, sb)
