"""Pieces the benchmark scripts share: the 20-column batch, batches of any shape, and running a
measured child."""

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


def typed_columns(numeric: int, categorical: int, boolean: int) -> dict[str, str]:
    """A loop's columns: `numeric` x*, `categorical` c* and `boolean` b* columns, then `label`."""
    return (
        {f"x{k}": "numeric" for k in range(numeric)}
        | {f"c{k}": "categorical" for k in range(categorical)}
        | {f"b{k}": "boolean" for k in range(boolean)}
        | {"label": "categorical"}
    )


def write_typed_batch(path: Path, rows: int, seed: int, columns: dict[str, str]) -> None:
    """A Parquet batch with `columns` (from `typed_columns`) written by DuckDB from hashes of
    the row number, the column's name and `seed`: numeric in [0, 100), 40 categories, booleans,
    and a label that is `yes` in 30% of the rows."""
    kinds = {
        "numeric": "hash(i, '{c}', {s}) % 100000 / 1000.0",
        "categorical": "'v' || (hash(i, '{c}', {s}) % 40)",
        "boolean": "hash(i, '{c}', {s}) % 2 = 0",
    }
    values = ", ".join(
        (
            f"CASE WHEN hash(i, 'label', {seed}) % 10 < 3 THEN 'yes' ELSE 'no' END"
            if column == "label"
            else kinds[kind].format(c=column, s=seed)
        )
        + f' AS "{column}"'
        for column, kind in columns.items()
    )
    duckdb.sql(f"COPY (SELECT {values} FROM range({rows}) t(i)) TO '{path}' (FORMAT PARQUET)")


def run_child(code: str, *args: str) -> dict[str, Any]:
    """Run `PEAK_KIB + code` in a fresh Python; return the JSON its last line prints."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_KIB + code, *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"child failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])
