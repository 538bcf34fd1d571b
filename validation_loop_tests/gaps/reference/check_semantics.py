"""Check that the metric definitions in README.md reproduce ``sdmetrics_values.json``.

This is the README's "How each metric computes its value" section written out in plain numpy and
pandas -- no SDMetrics, no scipy -- so that the description a SQL implementation is built from is
itself tested against the stored SDMetrics values. It runs in the project venv (pandas 3):

    .venv/bin/python validation_loop_tests/gaps/reference/check_semantics.py

It exits non-zero and lists the mismatches if any value differs by more than ``TOLERANCE``, or if
the README's rules predict NaN or an error where SDMetrics gave a number (or the other way round).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
VALUES = HERE / "sdmetrics_values.json"
TOLERANCE = 1e-9
REGULARIZATION = 1e-6  # TVComplement: pseudo-count given to synthetic-only categories
NAN = float("nan")


class MetricError(Exception):
    """The README says the metric raises here (SDMetrics records an error, score null)."""


def read_table(path: Path) -> pd.DataFrame:
    """A Parquet table with plain dtypes, as the reference script reads it."""
    return pq.read_table(path).to_pandas(ignore_metadata=True)


def numeric(series: pd.Series) -> pd.Series:
    """Numbers to float64; datetimes to their integer epoch (any unit will do), NaT to NaN."""
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series.to_numpy().astype("datetime64[us]").astype("int64").astype("float64")
        values[series.isna().to_numpy()] = np.nan
        return pd.Series(values, index=series.index)
    return series.astype("float64")


def ks_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """1 - max over every observed value x of |F_real(x) - F_syn(x)|, NaN dropped first."""
    r = np.sort(numeric(real).dropna().to_numpy())
    s = np.sort(numeric(synthetic).dropna().to_numpy())
    if len(r) == 0 or len(s) == 0:
        return NAN
    points = np.concatenate([r, s])
    f_real = np.searchsorted(r, points, side="right") / len(r)
    f_syn = np.searchsorted(s, points, side="right") / len(s)
    return 1.0 - float(np.max(np.abs(f_real - f_syn)))


def tv_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """1 - 0.5 * sum |p_syn - p_real| over the union of non-null values, with regularization."""
    r = real.dropna().value_counts().astype("float64")
    s = synthetic.dropna().value_counts().astype("float64")
    if r.empty or s.empty:
        raise MetricError("TVComplement needs a non-null value on both sides")
    extra = [value for value in s.index if value not in r.index]
    r = pd.concat([r, pd.Series(REGULARIZATION, index=extra, dtype="float64")])
    p_real = r / r.sum()
    p_syn = s.reindex(r.index, fill_value=0.0) / s.sum()
    return 1.0 - 0.5 * float(np.abs(p_syn - p_real).sum())


def missing_value_similarity(real: pd.Series, synthetic: pd.Series) -> float:
    """1 - |missing share in real - missing share in synthetic| (NaN, None and NaT all count)."""
    if len(real) == 0 or len(synthetic) == 0:
        return NAN
    return 1.0 - abs(real.isna().mean() - synthetic.isna().mean())


def category_coverage(real: pd.Series, synthetic: pd.Series) -> float:
    """Share of the distinct non-null real values that occur in synthetic."""
    real_values = set(real.dropna())
    if not real_values:
        raise MetricError("CategoryCoverage divides by zero without a non-null real value")
    return len(real_values & set(synthetic.dropna())) / len(real_values)


def range_coverage(real: pd.Series, synthetic: pd.Series) -> float:
    """max(0, 1 - under-coverage at the bottom - under-coverage at the top), NaN skipped."""
    r, s = numeric(real).dropna(), numeric(synthetic).dropna()
    if r.empty or s.empty or r.min() == r.max():
        return NAN
    width = r.max() - r.min()
    below = max((s.min() - r.min()) / width, 0.0)
    above = max((r.max() - s.max()) / width, 0.0)
    return max(1.0 - (below + above), 0.0)


def boundary_adherence(real: pd.Series, synthetic: pd.Series) -> float:
    """Share of synthetic rows in [real min, real max]; synthetic NaN kept unless real has NaN."""
    r, s = numeric(real), numeric(synthetic)
    if r.isna().any():
        s = s.dropna()
    if len(s) == 0:
        return NAN
    low, high = r.min(), r.max()  # NaN when real is all missing: then nothing is inside
    return float(((s >= low) & (s <= high)).sum() / len(s))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Textbook Pearson r; NaN when a side is constant."""
    xm, ym = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float((xm * xm).sum()) * float((ym * ym).sum()))
    return NAN if denominator == 0 else float((xm * ym).sum()) / denominator


def correlation_similarity(real: pd.DataFrame, synthetic: pd.DataFrame, coefficient: str) -> float:
    """1 - |r_real - r_syn| / 2 on the rows where both columns are present."""
    for table in (real, synthetic):
        if (table.nunique() == 1).any():
            raise MetricError("ConstantInputError: one distinct non-null value in a column")
    scores = []
    for table in (real, synthetic):
        both = pd.DataFrame({column: numeric(table[column]) for column in table}).dropna()
        if len(both) < 2:
            if coefficient == "Pearson":
                raise MetricError("pearsonr needs at least 2 rows")
            return NAN
        x, y = both.iloc[:, 0], both.iloc[:, 1]
        if coefficient == "Spearman":
            x, y = x.rank(method="average"), y.rank(method="average")
        scores.append(pearson(x.to_numpy(), y.to_numpy()))
        if len(scores) == 1 and abs(scores[0]) <= 0:  # real_correlation_threshold = 0
            return NAN
    r_real, r_syn = scores
    if math.isnan(r_real) or math.isnan(r_syn):
        return NAN
    return 1.0 - abs(r_real - r_syn) / 2.0


def bin_edges(real: pd.Series, bins: int = 10) -> np.ndarray:
    """Equal-width edges over the real min..max (numpy's rule), outer edges set to -inf/+inf."""
    values = real.dropna()
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    if low == high:
        low, high = low - 0.5, high + 0.5
    step = (high - low) / bins
    edges = np.array([low + i * step for i in range(bins)] + [high])
    edges[0], edges[-1] = -np.inf, np.inf
    return edges


def discretize(values: pd.Series, edges: np.ndarray) -> pd.Series:
    """Bin number 1..10 = 1 + count of inner edges <= x; NaN becomes bin 11."""
    inner = edges[1:-1]
    bins = 1 + (values.to_numpy()[:, None] >= inner[None, :]).sum(axis=1)
    bins[values.isna().to_numpy()] = len(edges)
    return pd.Series(bins, index=values.index)


def contingency_similarity(
    real: pd.DataFrame, synthetic: pd.DataFrame, continuous: list[str] | None = None
) -> float:
    """1 - 0.5 * sum |p_real - p_syn| over the observed (a, b) cells, NaN a value of its own."""
    real, synthetic = real.copy(), synthetic.copy()
    for column in continuous or []:
        edges = bin_edges(real[column])
        real[column] = discretize(real[column], edges)
        synthetic[column] = discretize(synthetic[column], edges)

    def shares(table: pd.DataFrame) -> dict[tuple[Any, ...], float]:
        keys = [tuple("<NA>" if pd.isna(v) else v for v in row) for row in table.to_numpy()]
        counts = pd.Series(keys, dtype="object").value_counts()
        return {key: count / len(table) for key, count in counts.items()}

    p_real, p_syn = shares(real), shares(synthetic)
    cells = set(p_real) | set(p_syn)
    return 1.0 - 0.5 * sum(abs(p_real.get(c, 0.0) - p_syn.get(c, 0.0)) for c in cells)


SINGLE: dict[str, Callable[[pd.Series, pd.Series], float]] = {
    "KSComplement": ks_complement,
    "TVComplement": tv_complement,
    "MissingValueSimilarity": missing_value_similarity,
    "CategoryCoverage": category_coverage,
    "RangeCoverage": range_coverage,
    "BoundaryAdherence": boundary_adherence,
}


def compare(label: str, expected: dict[str, Any], compute: Callable[[], float]) -> str | None:
    """None when the README's rule agrees with the stored SDMetrics result, else a message."""
    try:
        got: float | str = compute()
    except MetricError as error:
        got = f"error ({error})"
    want = expected.get("error") or expected["score"]
    if isinstance(got, str) or "error" in expected:
        ok = isinstance(got, str) and "error" in expected
    elif want is None:
        ok = math.isnan(got)
    else:
        ok = not math.isnan(got) and abs(got - want) <= TOLERANCE
    return None if ok else f"{label}: README rule gives {got!r}, SDMetrics gave {want!r}"


def check_dataset(name: str, dataset: dict[str, Any]) -> list[str | None]:
    """Compare every stored value of one dataset; one entry per value, None where it agrees."""
    real = read_table(DATA_DIR / f"{name}_real.parquet")
    synthetic = read_table(DATA_DIR / f"{name}_synthetic.parquet")
    results: list[str | None] = []
    for column, info in dataset["columns"].items():
        for metric, expected in info["metrics"].items():
            results.append(
                compare(
                    f"{name}.{column}.{metric}",
                    expected,
                    lambda m=metric, c=column: SINGLE[m](real[c], synthetic[c]),
                )
            )
    for pair in dataset["numeric_pairs"]:
        columns = pair["columns"]
        for metric, expected in pair["metrics"].items():
            coefficient = metric.rsplit("_", 1)[1]
            results.append(
                compare(
                    f"{name}.{'/'.join(columns)}.{metric}",
                    expected,
                    lambda c=columns, k=coefficient: correlation_similarity(
                        real[c], synthetic[c], k
                    ),
                )
            )
    for kind in ("categorical_pairs", "mixed_pairs"):
        for pair in dataset[kind]:
            columns = pair["columns"]
            results.append(
                compare(
                    f"{name}.{'/'.join(columns)}.ContingencySimilarity",
                    pair["metrics"]["ContingencySimilarity"],
                    lambda c=columns, p=pair: contingency_similarity(
                        real[c], synthetic[c], p.get("continuous_column_names")
                    ),
                )
            )
    return results


def main() -> int:
    """Recompute every stored value from the README's rules and report disagreements."""
    stored = json.loads(VALUES.read_text(encoding="utf-8"))
    results = [
        result
        for name, dataset in stored["datasets"].items()
        for result in check_dataset(name, dataset)
    ]
    failures = [result for result in results if result]
    for failure in failures:
        print(failure)
    agree = len(results) - len(failures)
    print(f"checked {len(results)} stored values: {agree} agree, {len(failures)} differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
