"""Time and peak memory of ingesting one large synthetic batch (20 columns) per format.

Usage: python benchmarks/ingest_benchmark.py [--rows 5000000] [--formats parquet,csv]

Each measurement runs `ingest_file` in a fresh child process, so peak memory (max RSS) is that
process's alone. Batches are written by DuckDB's COPY, with 12 numeric, 6 categorical, one
boolean and one label column.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from measure import PEAK_KIB

from validation_loop.home import Home
from validation_loop.spec import parse_spec, save_spec

NUMERIC = [f"x{i}" for i in range(12)]
CATEGORICAL = [f"c{i}" for i in range(6)]

CHILD = (
    PEAK_KIB
    + """
import sys, json
from pathlib import Path
from validation_loop.home import Home
from validation_loop.ingest import ingest_file
from validation_loop.spec import load_spec
home = Home(Path(sys.argv[1]))
outcome = ingest_file(home, load_spec(home.loop("bench").spec_path), Path(sys.argv[2]),
                      "synthetic")
peak = peak_kib()
print(json.dumps({"rows": outcome.batch.row_count, "peak_kib": peak}))
"""
)


def write_batch(path: Path, rows: int) -> None:
    """Write `rows` random rows with DuckDB (never held in Python)."""
    numeric = ", ".join(f"random() * 100 AS {c}" for c in NUMERIC)
    categorical = ", ".join(
        f"'v' || (hash(i + {k}) % 50) AS {c}" for k, c in enumerate(CATEGORICAL)
    )
    fmt = "PARQUET" if path.suffix == ".parquet" else "CSV, HEADER"
    duckdb.sql(
        f"COPY (SELECT {numeric}, {categorical}, random() < 0.5 AS flag, "
        f"CASE WHEN random() < 0.3 THEN 'yes' ELSE 'no' END AS label FROM range({rows}) t(i)) "
        f"TO '{path}' (FORMAT {fmt})"
    )


def main() -> None:
    """Write each batch, ingest it in a child process, print seconds and peak memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--formats", default="parquet,csv")
    args = parser.parse_args()
    columns = {c: "numeric" for c in NUMERIC} | {c: "categorical" for c in CATEGORICAL}
    columns |= {"flag": "boolean", "label": "categorical"}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            home = Home(Path(tmp) / fmt / "home")
            spec = parse_spec(
                {"name": "bench", "task": "classification", "label": "label", "columns": columns},
                "benchmark",
            )
            save_spec(spec, home.loop("bench").spec_path)
            batch = Path(tmp) / fmt / f"batch.{fmt}"
            write_batch(batch, args.rows)
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(home.root), str(batch)],
                capture_output=True,
                text=True,
                check=True,
            )
            seconds = time.perf_counter() - started
            result = json.loads(done.stdout.splitlines()[-1])
            rows, peak_mb = result["rows"], result["peak_kib"] / 1024
            size_mb = batch.stat().st_size / 2**20
            print(
                f"{fmt:8s} rows={rows:>10,d} file={size_mb:8.1f} MiB "
                f"seconds={seconds:7.2f} peak_rss={peak_mb:8.0f} MiB"
            )


if __name__ == "__main__":
    main()
