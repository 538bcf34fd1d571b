"""Joint counts of column pairs on the bounded samples, through integer codes.

Categorical columns are coded over both samples together; numeric columns by their human
quintile bin (`q1` ... `q5`). A pair's table is then one `bincount` per side.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from validation_loop.gaps.inputs import GapInputs

QUINTILES = [0.2, 0.4, 0.6, 0.8]
Table = dict[tuple[str, str], int]


class JointCounter:
    """Codes each column once per comparison and counts pairs on demand."""

    def __init__(self, inputs: GapInputs) -> None:
        self.inputs = inputs
        self._codes: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}

    def codes(self, column: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Human codes, synthetic codes (-1 where missing) and the level of each code."""
        if column not in self._codes:
            human = self.inputs.human_sample[column]
            synthetic = self.inputs.synthetic_sample[column]
            if column in self.inputs.columns.numeric:
                self._codes[column] = self._binned(human, synthetic)
            else:
                both = pd.concat([human, synthetic], ignore_index=True).astype("object")
                codes, levels = pd.factorize(both, use_na_sentinel=True)
                self._codes[column] = (
                    codes[: len(human)],
                    codes[len(human) :],
                    [str(v) for v in levels],
                )
        return self._codes[column]

    @staticmethod
    def _binned(human: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Quintile-bin codes of a numeric column, edges from the human sample."""
        h = human.to_numpy(dtype=float)
        s = synthetic.to_numpy(dtype=float)
        present = h[~np.isnan(h)]
        edges = np.unique(np.quantile(present, QUINTILES)) if present.size else np.array([])

        def code(values: np.ndarray) -> np.ndarray:
            return np.where(np.isnan(values), -1, np.searchsorted(edges, values, side="left"))

        return code(h), code(s), [f"q{k + 1}" for k in range(edges.size + 1)]

    def tables(self, a: str, b: str) -> tuple[Table, Table]:
        """Counts of each (a, b) cell present in each sample, rows missing either left out."""
        ha, sa, levels_a = self.codes(a)
        hb, sb, levels_b = self.codes(b)
        width = len(levels_b)

        def count(x: np.ndarray, y: np.ndarray) -> Table:
            keep = (x >= 0) & (y >= 0)
            cells = np.bincount(x[keep] * width + y[keep], minlength=len(levels_a) * width)
            return {
                (levels_a[i // width], levels_b[i % width]): int(cells[i])
                for i in np.flatnonzero(cells)
            }

        return count(ha, hb), count(sa, sb)
