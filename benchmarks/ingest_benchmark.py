"""Time and peak memory of ingesting one large synthetic batch (20 columns) per format.

Usage: python benchmarks/ingest_benchmark.py [--rows 5000000] [--formats parquet,csv]

Each measurement runs `ingest_file` in a fresh child process, so peak memory (max RSS) is that
process's alone. Batches are written by DuckDB's COPY, with 12 numeric, 6 categorical, one
boolean and one label column.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from measure import COLUMNS, run_child, write_batch

from validation_loop.home import Home
from validation_loop.spec import parse_spec, save_spec

CHILD = """
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


def main() -> None:
    """Write each batch, ingest it in a child process, print seconds and peak memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--formats", default="parquet,csv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            home = Home(Path(tmp) / fmt / "home")
            spec = parse_spec(
                {"name": "bench", "task": "classification", "label": "label", "columns": COLUMNS},
                "benchmark",
            )
            save_spec(spec, home.loop("bench").spec_path)
            batch = Path(tmp) / fmt / f"batch.{fmt}"
            write_batch(batch, args.rows, seed=0)
            started = time.perf_counter()
            result = run_child(CHILD, str(home.root), str(batch))
            seconds = time.perf_counter() - started
            rows, peak_mb = result["rows"], result["peak_kib"] / 1024
            size_mb = batch.stat().st_size / 2**20
            print(
                f"{fmt:8s} rows={rows:>10,d} file={size_mb:8.1f} MiB "
                f"seconds={seconds:7.2f} peak_rss={peak_mb:8.0f} MiB"
            )


if __name__ == "__main__":
    main()
