"""Which column pairs the pairwise checks test, within the loop's `max_pairs` budget.

Every numeric pair gets correlations, every categorical and mixed pair a contingency table. When
there are no more such pairs than `max_pairs`, all of them are tested. Otherwise the pairs with
a slice, sensitive or label column come first (pairs of two such columns before pairs of one),
then the pairs most strongly associated on the human side, each group strongest first. When
the first group alone exceeds the budget (a wide table: each such column pairs with every
other), it gets `PRIORITY_SHARE` of it and the strongest other associations the rest. The
strength is |Spearman| for numeric pairs, the correlation ratio (eta) of the numeric column's
ranks over the other column's categories for mixed pairs, and Cramér's V for categorical pairs,
eta and V bias-corrected so that columns with many categories do not look associated by chance.
All come from matrix products over at most `SCREEN_ROWS` human sample rows (fewer when there
are many categorical columns), categorical columns cut to their `SCREEN_LEVELS` most common
values; the pairs themselves are only ever held as index arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats

from validation_loop.gaps.inputs import Columns

SCREEN_ROWS = 2_000
MIN_SCREEN_ROWS = 500
SCREEN_WORK = 2 * 10**8  # rows x categorical columns^2 the categorical screen may take
SCREEN_LEVELS = 30
PRIORITY_SHARE = 0.5  # of the budget, for slice/sensitive/label pairs when they do not all fit

Pair = tuple[str, str]


@dataclass(frozen=True)
class PairPlan:
    """The pairs to test: numeric pairs (correlations), categorical and mixed pairs
    (contingency tables), each in the order the checks enumerate them, and how they were
    chosen."""

    correlation: list[Pair]
    contingency: list[Pair]
    candidates: int
    priority_tested: int
    priority_candidates: int
    screen_rows: int

    @property
    def tested(self) -> int:
        """Pairs tested."""
        return len(self.correlation) + len(self.contingency)

    @property
    def left_out(self) -> int:
        """Pairs not tested."""
        return self.candidates - self.tested


def _ranks(frame: pd.DataFrame, numeric: list[str]) -> np.ndarray:
    """Standardised ranks of numeric columns (missing at the median, constant columns 0)."""
    values = frame[numeric].to_numpy(dtype=float)
    medians = np.nanmedian(np.where(np.isnan(values).all(axis=0), 0.0, values), axis=0)
    values = np.where(np.isnan(values), medians, values)
    ranks = stats.rankdata(values, axis=0)
    spread = ranks.std(axis=0)
    return np.where(spread > 0, (ranks - ranks.mean(axis=0)) / np.where(spread > 0, spread, 1), 0)


def _one_hot(frame: pd.DataFrame, categorical: list[str]) -> tuple[sparse.csr_array, np.ndarray]:
    """One sparse one-hot block per categorical column over its most common values (the rest
    and missing values a level each); returns the matrix and each column's first level."""
    blocks: list[np.ndarray] = []
    starts: list[int] = []
    width = 0
    rows = np.arange(len(frame))
    for column in categorical:
        values = frame[column].astype("object")
        top = values.value_counts().index[:SCREEN_LEVELS]
        codes = pd.Categorical(values, categories=top).codes.astype(np.int64)
        codes = np.where(codes < 0, len(top) + values.isna().to_numpy(), codes)
        starts.append(width)
        blocks.append(np.column_stack([rows, codes + width]))
        width += len(top) + 2
    cells = np.vstack(blocks)
    matrix = sparse.csr_array(
        (np.ones(len(cells)), (cells[:, 0], cells[:, 1])), shape=(len(frame), width)
    )
    return matrix, np.array(starts, dtype=np.int64)


def _strengths(frame: pd.DataFrame, columns: Columns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """|Spearman| (numeric x numeric), eta (categorical x numeric) and Cramér's V
    (categorical x categorical) on the rows of `frame`."""
    n = len(frame)
    ranks = _ranks(frame, columns.numeric)
    spearman = np.abs(ranks.T @ ranks) / n
    if not columns.categorical:
        return spearman, np.zeros((0, len(columns.numeric))), np.zeros((0, 0))
    onehot, starts = _one_hot(frame, columns.categorical)
    counts = np.asarray(onehot.sum(axis=0)).ravel()
    levels = np.add.reduceat((counts > 0).astype(np.int64), starts)
    safe = np.where(counts > 0, counts, 1)
    # eta^2 of a numeric column over a categorical one: the between-level share of variance.
    sums = np.asarray(onehot.T @ ranks)
    eta2 = np.add.reduceat(sums**2 / safe[:, None], starts, axis=0) / n
    room = np.maximum(n - levels, 1)[:, None]
    eta = np.sqrt(np.clip(1 - (1 - eta2) * (n - 1) / room, 0, 1))
    # Cramér's V with Bergsma's bias correction, from the sparse cross-tabulation.
    table = sparse.coo_array(onehot.T @ onehot)
    owner = np.repeat(np.arange(starts.size), np.diff([*starts, onehot.shape[1]]))
    cells = owner[table.row] * starts.size + owner[table.col]
    share = table.data**2 / (safe[table.row] * safe[table.col])
    phi2 = np.bincount(cells, share, starts.size**2).reshape(starts.size, starts.size) - 1
    k = levels.astype(float)
    phi2 = np.maximum(phi2 - np.outer(k - 1, k - 1) / max(n - 1, 1), 0)
    k_corrected = k - (k - 1) ** 2 / max(n - 1, 1)
    room_v = np.minimum.outer(k_corrected, k_corrected) - 1
    cramer = np.sqrt(np.divide(phi2, room_v, out=np.zeros_like(phi2), where=room_v > 0))
    return spearman, eta, np.clip(cramer, 0, 1)


def _scores(strength: np.ndarray, rows: np.ndarray, cols: np.ndarray, triangle: bool) -> np.ndarray:
    """Strength (0..1) plus 2 per slice/sensitive/label column of the pair, flattened; entries
    that are no pair (the diagonal and below of a square block) at -inf."""
    scores = np.nan_to_num(strength, nan=0.0) + 2 * (rows[:, None] + cols[None, :])
    if triangle:
        scores[np.tril_indices(len(rows))] = -np.inf
    return scores.ravel()


def choose_pairs(frame: pd.DataFrame, columns: Columns, max_pairs: int) -> PairPlan:
    """The pairs to test on the human sample `frame` (see the module docstring)."""
    numeric, categorical = columns.numeric, columns.categorical
    p, c = len(numeric), len(categorical)
    special = {*columns.slices, *columns.sensitive, columns.label}
    num_special = np.array([name in special for name in numeric], dtype=float)
    cat_special = np.array([name in special for name in categorical], dtype=float)
    plain = p + c - int(num_special.sum() + cat_special.sum())
    candidates = (p + c) * (p + c - 1) // 2
    priority = candidates - plain * (plain - 1) // 2
    if candidates <= max_pairs:
        return PairPlan(
            correlation=[(numeric[i], numeric[j]) for i in range(p) for j in range(i + 1, p)],
            contingency=[
                *((categorical[i], categorical[j]) for i in range(c) for j in range(i + 1, c)),
                *((a, b) for a in numeric for b in categorical),
            ],
            candidates=candidates,
            priority_tested=priority,
            priority_candidates=priority,
            screen_rows=0,
        )
    rows = min(len(frame), SCREEN_ROWS, max(MIN_SCREEN_ROWS, SCREEN_WORK // max(c * c, 1)))
    spearman, eta, cramer = _strengths(frame.iloc[:rows], columns)
    scores = np.concatenate(
        [
            _scores(spearman, num_special, num_special, True),
            _scores(cramer, cat_special, cat_special, True),
            _scores(eta.T, num_special, cat_special, False),
        ]
    )
    # Priority pairs (score >= 2) sort first, then the rest, each strongest first.
    order = np.argsort(-scores, kind="stable")[:candidates]
    kept = priority
    if priority > max_pairs:
        kept = max(max_pairs - (candidates - priority), math.ceil(max_pairs * PRIORITY_SHARE))
    chosen = np.sort(np.concatenate([order[:kept], order[priority:][: max_pairs - kept]]))
    numeric_idx = chosen[chosen < p * p]
    categorical_idx = chosen[(chosen >= p * p) & (chosen < p * p + c * c)] - p * p
    mixed_idx = chosen[chosen >= p * p + c * c] - p * p - c * c
    return PairPlan(
        correlation=[(numeric[i // p], numeric[i % p]) for i in numeric_idx],
        contingency=[
            *((categorical[i // c], categorical[i % c]) for i in categorical_idx),
            *((numeric[i // c], categorical[i % c]) for i in mixed_idx),
        ],
        candidates=candidates,
        priority_tested=kept,
        priority_candidates=priority,
        screen_rows=rows,
    )


def describe(plan: PairPlan, max_pairs: int) -> str:
    """One sentence on how many pairs were tested and how they were chosen."""
    share = plan.tested / plan.candidates if plan.candidates else math.nan
    return (
        f"{plan.tested:,} of {plan.candidates:,} column pairs tested ({share:.1%}; max_pairs "
        f"{max_pairs:,}): {plan.priority_tested:,} of the {plan.priority_candidates:,} pairs with "
        "a slice, sensitive or label column first (the strongest), then the strongest human "
        "associations "
        f"(|Spearman|, correlation ratio, Cramér's V on {plan.screen_rows:,} human rows); "
        f"{plan.left_out:,} pairs left out"
    )
