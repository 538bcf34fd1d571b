"""Time and peak memory of the whole gap library (statistical and model checks) on large batches.

Usage: python benchmarks/gaps_benchmark.py [--synthetic-rows 1000000,10000000] [--human-rows 100000]

Builds a warehouse file with a human table and a synthetic table of 16 columns (8 numeric,
7 categorical, a binary label; a slice pair and a sensitive attribute), then runs
`compute_gaps` in a fresh child process per size and prints its seconds (with the time per
stage) and peak RSS, then the report's own scans of the synthetic side (the distributions of
eight gapped columns for the plots).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import duckdb
from measure import run_child

from validation_loop.spec import parse_spec, save_spec

NUMERIC = [f"x{i}" for i in range(8)]
CATEGORICAL = [f"c{i}" for i in range(7)]
SPEC = {
    "name": "bench",
    "task": "classification",
    "label": "label",
    "columns": {
        **dict.fromkeys(NUMERIC, "numeric"),
        **dict.fromkeys(CATEGORICAL, "categorical"),
        "label": "categorical",
    },
    "slices": ["c0", "c1"],
    "sensitive": ["c2"],
}

CHILD = """
import json, sys, time
from pathlib import Path
import duckdb
from validation_loop.gaps.compute import compute_gaps
from validation_loop.gaps.selection import Comparison
from validation_loop.report.distributions import distributions
from validation_loop.spec import load_spec
spec = load_spec(Path(sys.argv[2]))
con = duckdb.connect(sys.argv[1], read_only=True)
started = time.perf_counter()
result = compute_gaps(con, spec, "SELECT * FROM human", f"SELECT * FROM {sys.argv[3]}")
seconds = time.perf_counter() - started
started = time.perf_counter()
sides = Comparison([], [], None, "SELECT * FROM human", f"SELECT * FROM {sys.argv[3]}")
distributions(con, spec, sides, [*list(spec.columns)[:4], *list(spec.columns)[8:12]])
report_seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "stages": result.seconds, "counts": result.counts(),
                  "report_seconds": report_seconds, "peak_kib": peak_kib()}))
"""


def table_sql(rows: int, shift: float, seed_offset: int) -> str:
    """Rows of the benchmark schema; `shift` moves x0 so there is something to find."""
    numeric = ", ".join(
        f"{'random() * 10 + ' + str(shift) if c == 'x0' else f'(random() + random()) * {i + 1}'}"
        f" AS {c}"
        for i, c in enumerate(NUMERIC)
    )
    categorical = ", ".join(
        f"'v' || ((hash(i * 7 + {k} + {seed_offset}) % {5 + 3 * k})) AS {c}"
        for k, c in enumerate(CATEGORICAL)
    )
    return (
        f"SELECT {numeric}, {categorical}, CASE WHEN random() < 0.3 THEN 'yes' ELSE 'no' "
        f"END AS label, 'b' AS _batch_id, i AS _row FROM range({rows}) t(i)"
    )


def main() -> None:
    """Build the warehouse, run each size in a child process, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic-rows", default="1000000,10000000")
    parser.add_argument("--human-rows", type=int, default=100_000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.synthetic_rows.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "bench.duckdb"
        spec_path = Path(tmp) / "bench" / "loop.yaml"
        save_spec(parse_spec(SPEC, "benchmark"), spec_path)
        con = duckdb.connect(str(database))
        con.execute("SELECT setseed(0.42)")
        con.execute(f"CREATE TABLE human AS {table_sql(args.human_rows, 0.0, 0)}")
        for size in sizes:
            con.execute(f"CREATE TABLE synthetic_{size} AS {table_sql(size, 0.5, 1)}")
        con.close()
        for size in sizes:
            result = run_child(CHILD, str(database), str(spec_path), f"synthetic_{size}")
            print(
                f"synthetic={size:>11,d} human={args.human_rows:,d} "
                f"seconds={result['seconds']:6.2f} peak_rss={result['peak_kib'] / 1024:6.0f} MiB "
                f"counts={result['counts']}"
            )
            stages = result["stages"]
            models = stages.get("detection", 0) + stages.get("utility", 0)
            print(
                f"    model checks (detection + utility): {models:.2f} s; "
                f"statistical checks: {result['seconds'] - models:.2f} s"
            )
            print(f"    stages: {stages}")
            print(f"    report distributions (8 columns): {result['report_seconds']:.2f} s")


if __name__ == "__main__":
    main()
