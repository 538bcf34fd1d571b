"""Time SDMetrics' QualityReport on a real and a synthetic file (the loop benchmark's yardstick).

Usage: /tmp/sdm-venv/bin/python benchmarks/sdmetrics_quality.py REAL.parquet SYNTHETIC.parquet

Runs in its own environment, never the project's: sdmetrics needs pandas < 3, so it is not a
dependency of validation_loop. Set that environment up once with

    python3.11 -m venv /tmp/sdm-venv
    /tmp/sdm-venv/bin/pip install sdmetrics 'pandas<3' pyarrow

`benchmarks/loop_benchmark.py --sdmetrics-python /tmp/sdm-venv/bin/python` runs this script on
the same files it gives the loop. It reads both files with pandas, declares every numeric
column `numerical` and every other column `categorical`, times
`QualityReport.generate(real, synthetic, metadata)` alone, and prints one JSON line: the
seconds to load and to generate, the report's score, and this process's peak RSS (VmHWM).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from typing import Any

import pandas as pd


def peak_kib() -> int:
    """This process's own peak RSS in KiB (VmHWM)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1])
    return 0


def metadata(frame: pd.DataFrame) -> dict[str, Any]:
    """SDMetrics single-table metadata: numeric columns numerical, the rest categorical."""
    return {
        "columns": {
            str(column): {
                "sdtype": "numerical"
                if pd.api.types.is_numeric_dtype(frame[column])
                and not pd.api.types.is_bool_dtype(frame[column])
                else "categorical"
            }
            for column in frame.columns
        }
    }


def generate(real: pd.DataFrame, synthetic: pd.DataFrame, table: dict[str, Any]) -> float:
    """Run QualityReport.generate (the unified API if this sdmetrics has it); return the score."""
    try:
        from sdmetrics.reports import QualityReport

        report = QualityReport()
        report.generate(
            {"data": real}, {"data": synthetic}, {"tables": {"data": table}}, verbose=False
        )
    except ImportError:  # sdmetrics before the unified reports
        from sdmetrics.reports.single_table import QualityReport

        report = QualityReport()
        report.generate(real, synthetic, table, verbose=False)
    return float(report.get_score())


def main() -> None:
    """Load both files, time the report, print one JSON line."""
    warnings.simplefilter("ignore")
    real_path, synthetic_path = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    real = pd.read_parquet(real_path)
    synthetic = pd.read_parquet(synthetic_path)
    load_seconds = time.perf_counter() - started
    table = metadata(real)
    started = time.perf_counter()
    score = generate(real, synthetic, table)
    seconds = time.perf_counter() - started
    import sdmetrics

    print(
        json.dumps(
            {
                "sdmetrics": sdmetrics.__version__,
                "pandas": pd.__version__,
                "rows": [len(real), len(synthetic)],
                "columns": len(real.columns),
                "load_seconds": round(load_seconds, 2),
                "seconds": round(seconds, 2),
                "score": score,
                "peak_kib": peak_kib(),
            }
        )
    )


if __name__ == "__main__":
    main()
