"""Pieces the benchmark scripts share: the 20-column batch, and running a measured child."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

NUMERIC = [f"x{i}" for i in range(12)]
CATEGORICAL = [f"c{i}" for i in range(6)]
COLUMNS = (
    dict.fromkeys(NUMERIC, "numeric")
    | dict.fromkeys(CATEGORICAL, "categorical")
    | {"flag": "boolean", "label": "categorical"}
)

PEAK_KIB = """
def peak_kib():
    # VmHWM: this process's own peak RSS (ru_maxrss would carry the parent's over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1])
"""


def write_batch(path: Path, rows: int, seed: int) -> None:
    """A 20-column batch (Parquet, or CSV by the name) written by DuckDB, never held in Python.

    Values come from hashes of the row number and `seed`, so a batch is the same every time.
    """
    numeric = ", ".join(
        f"hash(i, {k}, {seed}) % 100000 / 1000.0 AS {c}" for k, c in enumerate(NUMERIC)
    )
    categorical = ", ".join(
        f"'v' || (hash(i, {k + 50}, {seed}) % 40) AS {c}" for k, c in enumerate(CATEGORICAL)
    )
    fmt = "PARQUET" if path.suffix == ".parquet" else "CSV, HEADER"
    duckdb.sql(
        f"COPY (SELECT {numeric}, {categorical}, hash(i, 99, {seed}) % 2 = 0 AS flag, "
        f"CASE WHEN hash(i, 98, {seed}) % 10 < 3 THEN 'yes' ELSE 'no' END AS label "
        f"FROM range({rows}) t(i)) TO '{path}' (FORMAT {fmt})"
    )


def run_child(code: str, *args: str) -> dict[str, Any]:
    """Run `PEAK_KIB + code` in a fresh Python; return the JSON its last line prints."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_KIB + code, *args], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.splitlines()[-1])
