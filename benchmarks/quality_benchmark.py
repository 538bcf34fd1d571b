"""Time and peak memory of validating one large batch with the GX suite (20 columns).

Usage: python benchmarks/quality_benchmark.py [--rows 5000000]

Builds a home with a 20-column loop, ingests a 100,000-row human batch (which writes the
suite), ingests a synthetic batch of `--rows` rows, then validates it in a fresh child process
and prints the seconds and that process's peak RSS, next to the size the batch would take as
one pandas DataFrame.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
from measure import COLUMNS, run_child, write_batch

from validation_loop.home import Home
from validation_loop.ingest import ingest_file
from validation_loop.quality.validation import validate_batch
from validation_loop.spec import parse_spec, save_spec

CHILD = """
import json, sys, time
from pathlib import Path
from validation_loop.home import Home
from validation_loop.quality.validation import validate_batch
from validation_loop.spec import load_spec
home = Home(Path(sys.argv[1]))
spec = load_spec(home.loop("bench").spec_path)
started = time.perf_counter()
outcomes, _ = validate_batch(home, spec, sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - started, "expectations": len(outcomes),
                  "failed": sum(not o.success for o in outcomes),
                  "peak_kib": peak_kib()}))
"""


def main() -> None:
    """Build, ingest, validate in a child process, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(Path(tmp) / "home")
        spec = parse_spec(
            {"name": "bench", "task": "classification", "label": "label", "columns": COLUMNS},
            "benchmark",
        )
        save_spec(spec, home.loop("bench").spec_path)
        human = Path(tmp) / "human.parquet"
        write_batch(human, 100_000, seed=1)
        human_id = ingest_file(home, spec, human, "human").batch.batch_id
        validate_batch(home, spec, human_id)
        synthetic = Path(tmp) / "synthetic.parquet"
        write_batch(synthetic, args.rows, seed=2)
        started = time.perf_counter()
        batch = ingest_file(home, spec, synthetic, "synthetic").batch
        ingest_seconds = time.perf_counter() - started
        with duckdb.connect(str(home.warehouse_path), read_only=True) as con:
            frame_mib = (
                con.execute("SELECT * EXCLUDE (_batch_id, _row) FROM bench.synthetic")
                .fetchdf()
                .memory_usage(deep=True)
                .sum()
                / 2**20
            )
        result = run_child(CHILD, str(home.root), batch.batch_id)
        print(
            f"rows={batch.row_count:,d} columns={len(COLUMNS)} ingest_seconds={ingest_seconds:.1f}"
        )
        print(
            f"validate_seconds={result['seconds']:.1f} expectations={result['expectations']} "
            f"failed={result['failed']} peak_rss={result['peak_kib'] / 1024:.0f} MiB "
            f"(the batch as one DataFrame: {frame_mib:.0f} MiB)"
        )


if __name__ == "__main__":
    main()
