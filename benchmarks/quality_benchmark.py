"""Time and peak memory of validating large batches with the GX suite: tall and wide.

Usage: python benchmarks/quality_benchmark.py [--case tall|wide]... [--rows N]

Cases (default: both):
- `tall`: a 10,000,000-row synthetic batch of 16 columns (10 numeric, 4 categorical, a boolean,
  the label), held to the suite a 100,000-row human batch wrote;
- `wide`: 1,000 columns (600 numeric, 300 categorical, 99 boolean, the label) x 5,000 rows on
  both sides.

Per case it builds a home, ingests the human batch, validates it in a fresh child process
(which writes the suite), ingests the synthetic batch (`--rows` rows instead of the case's),
validates that in another child, and prints the seconds and each child's peak RSS, next to the
size the synthetic batch takes as Arrow columns.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
from measure import run_child, typed_columns, write_typed_batch

from validation_loop.home import Home
from validation_loop.ingest import ingest_file
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


@dataclass(frozen=True)
class Case:
    """One benchmark shape: column counts by type and rows per side."""

    numeric: int
    categorical: int
    boolean: int
    human_rows: int
    synthetic_rows: int


CASES = {
    "tall": Case(10, 4, 1, human_rows=100_000, synthetic_rows=10_000_000),
    "wide": Case(600, 300, 99, human_rows=5_000, synthetic_rows=5_000),
}


def _validate(home: Home, batch_id: str, side: str) -> None:
    """Validate a batch in a child process and print its figures."""
    result = run_child(CHILD, str(home.root), batch_id)
    print(
        f"  {side}: validate_seconds={result['seconds']:.1f} "
        f"expectations={result['expectations']} failed={result['failed']} "
        f"peak_rss={result['peak_kib'] / 1024:.0f} MiB"
    )


def run_case(name: str, case: Case, rows: int | None) -> None:
    """Build, ingest and validate one case; print its figures."""
    columns = typed_columns(case.numeric, case.categorical, case.boolean)
    synthetic_rows = rows or case.synthetic_rows
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(Path(tmp) / "home")
        spec = parse_spec(
            {"name": "bench", "task": "classification", "label": "label", "columns": columns},
            "benchmark",
        )
        save_spec(spec, home.loop("bench").spec_path)
        human = Path(tmp) / "human.parquet"
        write_typed_batch(human, case.human_rows, 1, columns)
        synthetic = Path(tmp) / "synthetic.parquet"
        write_typed_batch(synthetic, synthetic_rows, 2, columns)
        print(
            f"{name}: columns={len(columns)} human_rows={case.human_rows:,d} "
            f"synthetic_rows={synthetic_rows:,d}"
        )
        started = time.perf_counter()
        human_id = ingest_file(home, spec, human, "human").batch.batch_id
        print(f"  human: ingest_seconds={time.perf_counter() - started:.1f}")
        _validate(home, human_id, "human")
        started = time.perf_counter()
        batch = ingest_file(home, spec, synthetic, "synthetic").batch
        print(f"  synthetic: ingest_seconds={time.perf_counter() - started:.1f}")
        with duckdb.connect(str(home.warehouse_path), read_only=True) as con:
            arrow_mib = (
                con.execute("SELECT * EXCLUDE (_batch_id, _row) FROM bench.synthetic")
                .to_arrow_table()
                .nbytes
                / 2**20
            )
        print(f"  synthetic: the batch as Arrow columns: {arrow_mib:.0f} MiB")
        _validate(home, batch.batch_id, "synthetic")


def main() -> None:
    """Run the chosen cases."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    parser.add_argument("--rows", type=int, help="synthetic rows instead of the case's")
    args = parser.parse_args()
    for name in args.case or list(CASES):
        run_case(name, CASES[name], args.rows)


if __name__ == "__main__":
    main()
