"""Compute SDMetrics reference values for every (real, synthetic) pair under ``data/``.

SDMetrics pins pandas below 3 and the project runs pandas 3, so this script runs in a separate
venv (see README.md beside it for the exact commands) and writes ``sdmetrics_values.json``, which
the project's tests compare the gap library against.

Each table is read with ``pyarrow.parquet.read_table(path).to_pandas(ignore_metadata=True)``, so
the metrics see plain numpy dtypes: int64 (float64 where the column has nulls), float64,
datetime64[us], object strings with None, and bool (object True/False/None where the column has
nulls). Every metric is called with its default parameters, except the ``coefficient`` of
CorrelationSimilarity and the ``continuous_column_names`` of the mixed-pair ContingencySimilarity.
No metric called here draws random numbers with these parameters, so the output is deterministic.

Every result is an object with a ``score``: a float, or null when the metric returned NaN, or
null together with ``error`` and ``message`` when the metric raised. Breakdown fields (e.g. the
real and synthetic correlations) are added where the metric's ``compute_breakdown`` has them.
"""

from __future__ import annotations

import json
import math
import platform
import warnings
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet as pq
import scipy
import sdmetrics
from sdmetrics.column_pairs import ContingencySimilarity, CorrelationSimilarity
from sdmetrics.single_column import (
    BoundaryAdherence,
    CategoryCoverage,
    KSComplement,
    MissingValueSimilarity,
    RangeCoverage,
    TVComplement,
)

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
MANIFEST = DATA_DIR / "manifest.json"
OUTPUT = HERE / "sdmetrics_values.json"

CONTINUOUS = ("numerical", "datetime")
DISCRETE = ("categorical", "boolean")
CONTINUOUS_METRICS = (KSComplement, MissingValueSimilarity, RangeCoverage, BoundaryAdherence)
DISCRETE_METRICS = (TVComplement, MissingValueSimilarity, CategoryCoverage)

Result = dict[str, Any]


def to_json_number(value: Any) -> float | int | None:
    """A JSON-safe number: NaN becomes None, numpy scalars become Python ones."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    number = float(value)
    return None if math.isnan(number) else number


def run(call: Callable[[], Any]) -> Result:
    """Call a metric; return its score (and breakdown, if any) or the error it raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            outcome = call()
        except Exception as error:
            return {"score": None, "error": type(error).__name__, "message": str(error)}
    result = outcome if isinstance(outcome, dict) else {"score": outcome}
    result = {key: to_json_number(value) for key, value in result.items()}
    if result["score"] is not None:
        result["score"] = float(result["score"])  # RangeCoverage can return the int 1
    return result


def read_table(path: Path) -> pd.DataFrame:
    """A Parquet table as plain numpy-dtype pandas columns (no pandas extension dtypes)."""
    return pq.read_table(path).to_pandas(ignore_metadata=True)


def column_results(real: pd.Series, synthetic: pd.Series, sdtype: str) -> dict[str, Result]:
    """The single-column metrics for one column, chosen by its sdtype."""
    metrics = CONTINUOUS_METRICS if sdtype in CONTINUOUS else DISCRETE_METRICS
    results: dict[str, Result] = {}
    for metric in metrics:
        results[metric.__name__] = run(
            lambda metric=metric: metric.compute_breakdown(real.copy(), synthetic.copy())
        )
    return results


def numeric_pair_results(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, Result]:
    """CorrelationSimilarity with both coefficients for a pair of continuous columns."""
    return {
        f"CorrelationSimilarity_{coefficient}": run(
            lambda coefficient=coefficient: CorrelationSimilarity.compute_breakdown(
                real.copy(), synthetic.copy(), coefficient=coefficient
            )
        )
        for coefficient in ("Pearson", "Spearman")
    }


def contingency(
    real: pd.DataFrame, synthetic: pd.DataFrame, continuous: list[str] | None = None
) -> dict[str, Result]:
    """ContingencySimilarity for a pair (the continuous columns binned, when given)."""
    return {
        "ContingencySimilarity": run(
            lambda: ContingencySimilarity.compute_breakdown(
                real.copy(), synthetic.copy(), continuous_column_names=continuous
            )
        )
    }


def dataset_results(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Every reference value for one dataset of the manifest."""
    real = read_table(DATA_DIR / f"{name}_real.parquet")
    synthetic = read_table(DATA_DIR / f"{name}_synthetic.parquet")
    sdtypes: dict[str, str] = entry["sdtypes"]
    if list(real.columns) != list(sdtypes) or list(synthetic.columns) != list(sdtypes):
        raise ValueError(f"{name}: columns do not match the manifest")
    columns = {
        column: {
            "sdtype": sdtype,
            "dtype_passed": {
                "real": str(real[column].dtype),
                "synthetic": str(synthetic[column].dtype),
            },
            "metrics": column_results(real[column], synthetic[column], sdtype),
        }
        for column, sdtype in sdtypes.items()
    }
    numeric_pairs = []
    for first, second in entry["numeric_pairs"]:
        if not {sdtypes[first], sdtypes[second]} <= set(CONTINUOUS):
            raise ValueError(f"{name}: numeric pair {first}, {second} is not continuous")
        pair = [first, second]
        numeric_pairs.append(
            {"columns": pair, "metrics": numeric_pair_results(real[pair], synthetic[pair])}
        )
    categorical_pairs = []
    for first, second in entry["categorical_pairs"]:
        if not {sdtypes[first], sdtypes[second]} <= set(DISCRETE):
            raise ValueError(f"{name}: categorical pair {first}, {second} is not discrete")
        pair = [first, second]
        categorical_pairs.append(
            {"columns": pair, "metrics": contingency(real[pair], synthetic[pair])}
        )
    mixed_pairs = []
    for first, second in entry["mixed_pairs"]:
        if sdtypes[first] != "numerical" or sdtypes[second] not in DISCRETE:
            raise ValueError(f"{name}: mixed pair {first}, {second} is not (numerical, discrete)")
        pair = [first, second]
        mixed_pairs.append(
            {
                "columns": pair,
                "continuous_column_names": [first],
                "num_discrete_bins": 10,
                "metrics": contingency(real[pair], synthetic[pair], continuous=[first]),
            }
        )
    return {
        "description": entry["description"],
        "plants": entry["plants"],
        "rows": {"real": len(real), "synthetic": len(synthetic)},
        "columns": columns,
        "numeric_pairs": numeric_pairs,
        "categorical_pairs": categorical_pairs,
        "mixed_pairs": mixed_pairs,
    }


def main() -> None:
    """Compute every dataset of the manifest and write the JSON file."""
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    output = {
        "generated_by": "validation_loop_tests/gaps/reference/compute_sdmetrics.py",
        "versions": {
            "python": platform.python_version(),
            "sdmetrics": sdmetrics.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pyarrow": pyarrow.__version__,
        },
        "parameters": {
            "single_column": "compute_breakdown(real, synthetic) with defaults",
            "CorrelationSimilarity": {
                "coefficient": ["Pearson", "Spearman"],
                "real_correlation_threshold": 0,
            },
            "ContingencySimilarity": {
                "continuous_column_names": "None for categorical pairs; [the numerical column] "
                "for mixed pairs",
                "num_discrete_bins": 10,
                "num_rows_subsample": None,
                "real_association_threshold": 0,
            },
        },
        "conventions": {
            "score": "float; null when the metric returned NaN or raised",
            "error": "present (with message) only when the metric raised",
        },
        "datasets": {
            name: dataset_results(name, entry) for name, entry in manifest["datasets"].items()
        },
    }
    OUTPUT.write_text(json.dumps(output, indent=1) + "\n", encoding="utf-8")
    counts = [
        len(data["columns"])
        + len(list(chain(data["numeric_pairs"], data["categorical_pairs"], data["mixed_pairs"])))
        for data in output["datasets"].values()
    ]
    print(f"wrote {OUTPUT.name}: {len(counts)} datasets, {sum(counts)} columns and pairs")


if __name__ == "__main__":
    main()
