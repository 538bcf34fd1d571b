"""Our SDMetrics-named metrics give SDMetrics' numbers (to 1e-6) on six stored data sets.

SDMetrics pins pandas below 3, so its values were computed once in a separate environment by
`reference/compute_sdmetrics.py` and stored in `reference/sdmetrics_values.json` (see
`reference/README.md` to recompute them). Documented exception: SDMetrics' TVComplement adds a
1e-6 pseudo-count for synthetic-only categories; we use the textbook formula, which differs by at
most k * 1e-6 / n_real (below the tolerance on these data).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from validation_loop.spec import parse_spec
from validation_loop_tests.gaps.conftest import run_gaps

REFERENCE = Path(__file__).parent / "reference"
VALUES = json.loads((REFERENCE / "sdmetrics_values.json").read_text())
MANIFEST = json.loads((REFERENCE / "data" / "manifest.json").read_text())
TYPES = {
    "numerical": "numeric",
    "datetime": "datetime",
    "categorical": "categorical",
    "boolean": "boolean",
}
COLUMN_METRICS = {
    "KSComplement": "ks_complement",
    "TVComplement": "tv_complement",
    "MissingValueSimilarity": "missing_value_similarity",
    "CategoryCoverage": "category_coverage",
    "RangeCoverage": "range_coverage",
    "BoundaryAdherence": "boundary_adherence",
}
PAIR_METRICS = {
    "CorrelationSimilarity_Pearson": "correlation_similarity_pearson",
    "CorrelationSimilarity_Spearman": "correlation_similarity_spearman",
    "ContingencySimilarity": "contingency_similarity",
}


def _ours(name: str) -> dict[tuple[str, frozenset[str]], float | None]:
    """Our values for one data set, keyed by (metric, columns)."""
    info = MANIFEST["datasets"][name]
    real = pd.read_parquet(REFERENCE / "data" / f"{name}_real.parquet")
    synthetic = pd.read_parquet(REFERENCE / "data" / f"{name}_synthetic.parquet")
    columns = {c: TYPES[t] for c, t in info["sdtypes"].items()}
    label = next(c for c, t in columns.items() if t in ("categorical", "boolean"))
    spec = parse_spec(
        {
            "name": "ref",
            "task": "classification",
            "label": label,
            "columns": columns,
            "sample_rows": 10_000,
            "models": {"enabled": False},
        },
        "reference",
    )
    result = run_gaps(spec, real, synthetic)
    return {(r.metric, frozenset(r.columns)): r.value for r in result.records if r.slice is None}


def _expected(name: str) -> list[tuple[str, frozenset[str], float | None]]:
    """SDMetrics' values for one data set as (our metric, columns, value or None)."""
    data = VALUES["datasets"][name]
    expected = []
    for column, entry in data["columns"].items():
        for metric, result in entry["metrics"].items():
            expected.append((COLUMN_METRICS[metric], frozenset([column]), result["score"]))
    for kind in ("numeric_pairs", "categorical_pairs", "mixed_pairs"):
        for pair in data.get(kind, []):
            for metric, result in pair["metrics"].items():
                expected.append((PAIR_METRICS[metric], frozenset(pair["columns"]), result["score"]))
    return expected


@pytest.mark.parametrize("name", sorted(VALUES["datasets"]))
def test_same_numbers_as_sdmetrics(name: str) -> None:
    ours = _ours(name)
    expected = _expected(name)
    assert len(expected) > 10
    mismatches = []
    for metric, columns, value in expected:
        mine = ours.get((metric, columns))
        if value is None:
            if mine is not None and not math.isnan(mine):
                mismatches.append((metric, sorted(columns), "SDMetrics: undefined", mine))
        elif mine is None or not abs(mine - value) <= 1e-6:
            mismatches.append((metric, sorted(columns), value, mine))
    assert mismatches == []
