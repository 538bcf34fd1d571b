"""Peak memory and time of ingesting (and validating) large batches, per file size, format and
DuckDB memory setting: memory should follow the setting, not the file.

Usage: python benchmarks/ingest_benchmark.py [--sizes 100MiB,1GiB] [--formats csv,parquet]
           [--memory 256MB,1GB] [--no-validate] [--code DIR]

Each batch (20 columns: 12 numeric, 6 categorical, a boolean and the label; written by DuckDB's
COPY, never held in Python) is ingested by `ingest_file` and then validated by `validate_batch`
in a fresh child process, into a fresh home whose loop sets `resources.duckdb_memory`, so the
peak (VmHWM) is that child's alone. A CSV of a given size has as many rows as that size takes
as CSV; a Parquet batch has the same rows (so it is smaller). Printed per run: the file, the
setting, seconds of each step, the child's RSS after its imports and its peak during ingest and
during validation. `--code DIR` runs the children on another checkout's `validation_loop` (for
before/after figures).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
from pathlib import Path

from measure import COLUMNS, run_child, write_batch

from validation_loop.home import Home
from validation_loop.spec import parse_spec, save_spec

CSV_BYTES_PER_ROW = 112.8  # what `write_batch` rows take as CSV
CHILD = """
import json, sys, time
from pathlib import Path

def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])

def restart_peak():
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # VmHWM starts again from the current RSS

from validation_loop.home import Home
from validation_loop.ingest import ingest_file
from validation_loop.quality.validation import validate_batch
from validation_loop.spec import load_spec

home = Home(Path(sys.argv[1]))
spec = load_spec(home.loop("bench").spec_path)
figures = {"base_kib": rss_kib()}
restart_peak()
started = time.perf_counter()
batch = ingest_file(home, spec, Path(sys.argv[2]), "synthetic").batch
figures |= {"rows": batch.row_count, "ingest_s": time.perf_counter() - started}
figures["ingest_peak_kib"] = peak_kib()
if sys.argv[3] == "validate":
    restart_peak()
    started = time.perf_counter()
    validate_batch(home, spec, batch.batch_id)
    figures["validate_s"] = time.perf_counter() - started
    figures["validate_peak_kib"] = peak_kib()
print(json.dumps(figures))
"""


def parse_size(text: str) -> int:
    """Bytes in `100MiB`, `1GiB`, `5GB`, ..."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|KB|MB|GB)", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a size such as 100MiB or 1GiB")
    units = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "KB": 10**3, "MB": 10**6, "GB": 10**9}
    return int(float(match.group(1)) * units[match.group(2)])


def measure(root: Path, batch: Path, memory: str, validate: bool) -> dict[str, float]:
    """Ingest (and validate) `batch` in a child, into a fresh home with `memory` for DuckDB."""
    home = Home(root / f"home-{batch.name}-{memory}")
    spec = parse_spec(
        {
            "name": "bench",
            "task": "classification",
            "label": "label",
            "columns": COLUMNS,
            "resources": {"duckdb_memory": memory},
        },
        "benchmark",
    )
    save_spec(spec, home.loop("bench").spec_path)
    try:
        return run_child(CHILD, str(home.root), str(batch), "validate" if validate else "-")
    finally:
        shutil.rmtree(home.root)  # a home can hold gigabytes


def main() -> None:
    """Write each batch once, ingest it at each memory setting, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100MiB,1GiB")
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--memory", default="256MB,1GB")
    parser.add_argument("--no-validate", action="store_true")
    parser.add_argument("--code", type=Path, help="run the children on this checkout's code")
    parser.add_argument("--tmp", type=Path, help="where batches and homes go (default: $TMPDIR)")
    args = parser.parse_args()
    if args.code:
        os.environ["PYTHONPATH"] = str(args.code.resolve())
    print(
        f"{'format':8s} {'file':>10s} {'rows':>11s} {'memory':>7s} {'ingest':>8s} "
        f"{'validate':>8s} {'base':>7s} {'peak ingest':>12s} {'peak validate':>14s}"
    )
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for size in (parse_size(s) for s in args.sizes.split(",")):
            rows = int(size / CSV_BYTES_PER_ROW)
            for fmt in args.formats.split(","):
                batch = Path(tmp) / f"batch-{rows}.{fmt}"
                write_batch(batch, rows, seed=0)
                for memory in args.memory.split(","):
                    figures = measure(Path(tmp), batch, memory, not args.no_validate)
                    mib = {k: v / 1024 for k, v in figures.items() if k.endswith("_kib")}
                    print(
                        f"{fmt:8s} {batch.stat().st_size / 2**20:7.0f} MiB {rows:>11,d} "
                        f"{memory:>7s} {figures['ingest_s']:7.1f}s "
                        f"{figures.get('validate_s', 0.0):7.1f}s {mib['base_kib']:4.0f} MiB "
                        f"{mib['ingest_peak_kib']:8.0f} MiB "
                        f"{mib.get('validate_peak_kib', 0.0):10.0f} MiB",
                        flush=True,
                    )
                batch.unlink()


if __name__ == "__main__":
    main()
