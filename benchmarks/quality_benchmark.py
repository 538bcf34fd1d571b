"""Time and peak memory of validating one large batch with the GX suite (20 columns).

Usage: python benchmarks/quality_benchmark.py [--rows 5000000]

Builds a home with a 20-column loop, ingests a 100,000-row human batch (which writes the
suite), ingests a synthetic batch of `--rows` rows, then validates it in a fresh child process
and prints the seconds and that process's peak RSS, next to the size the batch would take as
one pandas DataFrame.
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
from validation_loop.ingest import ingest_file
from validation_loop.quality.validation import validate_batch
from validation_loop.spec import parse_spec, save_spec

NUMERIC = [f"x{i}" for i in range(12)]
CATEGORICAL = [f"c{i}" for i in range(6)]
CHILD = (
    PEAK_KIB
    + """
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
)


def write_batch(path: Path, rows: int, seed: int) -> None:
    """A Parquet batch written by DuckDB."""
    numeric = ", ".join(
        f"hash(i, {k}, {seed}) % 100000 / 1000.0 AS {c}" for k, c in enumerate(NUMERIC)
    )
    categorical = ", ".join(
        f"'v' || (hash(i, {k + 50}, {seed}) % 40) AS {c}" for k, c in enumerate(CATEGORICAL)
    )
    duckdb.sql(
        f"COPY (SELECT {numeric}, {categorical}, hash(i, 99, {seed}) % 2 = 0 AS flag, "
        f"CASE WHEN hash(i, 98, {seed}) % 10 < 3 THEN 'yes' ELSE 'no' END AS label "
        f"FROM range({rows}) t(i)) TO '{path}' (FORMAT PARQUET)"
    )


def main() -> None:
    """Build, ingest, validate in a child process, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    columns = {c: "numeric" for c in NUMERIC} | {c: "categorical" for c in CATEGORICAL}
    columns |= {"flag": "boolean", "label": "categorical"}
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(Path(tmp) / "home")
        spec = parse_spec(
            {"name": "bench", "task": "classification", "label": "label", "columns": columns},
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
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(home.root), batch.batch_id],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(done.stdout.splitlines()[-1])
        print(
            f"rows={batch.row_count:,d} columns={len(columns)} ingest_seconds={ingest_seconds:.1f}"
        )
        print(
            f"validate_seconds={result['seconds']:.1f} expectations={result['expectations']} "
            f"failed={result['failed']} peak_rss={result['peak_kib'] / 1024:.0f} MiB "
            f"(the batch as one DataFrame: {frame_mib:.0f} MiB)"
        )


if __name__ == "__main__":
    main()
