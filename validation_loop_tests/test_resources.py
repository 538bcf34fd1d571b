"""The thread budget: where it comes from, and that DuckDB connections and fits obey it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from validation_loop.errors import ConfigError
from validation_loop.resources import (
    THREADS_ENV,
    available_cores,
    fit_threads,
    thread_budget,
)
from validation_loop.spec import ResourceSpec
from validation_loop.warehouse import Warehouse


def test_the_budget_is_the_spec_then_the_environment_then_the_cores(monkeypatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert thread_budget() == available_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setenv(THREADS_ENV, "3")
    assert thread_budget() == 3
    assert thread_budget(5) == 5


@pytest.mark.parametrize("raw", ["0", "two", "-1"])
def test_a_bad_environment_setting_is_a_clear_error(monkeypatch, raw: str) -> None:
    monkeypatch.setenv(THREADS_ENV, raw)
    with pytest.raises(ConfigError, match=THREADS_ENV):
        thread_budget()


def test_fits_use_one_thread_per_hundred_thousand_rows_within_the_budget() -> None:
    assert fit_threads(8, 5_000) == 1  # the loop sets 8 threads
    assert fit_threads(8, 250_000) == 2
    assert fit_threads(2, 10_000_000) == 2


@pytest.mark.parametrize(("threads", "memory"), [(1, "500MB"), (3, "2GB")])
def test_warehouse_connections_use_the_loops_resources(
    tmp_path: Path, threads: int, memory: str
) -> None:
    resources = ResourceSpec(threads=threads, duckdb_memory=memory)
    warehouse = Warehouse(tmp_path / "w.duckdb", resources=resources)
    for connection in (warehouse.write, warehouse.read):
        with connection() as con:
            row = con.execute(
                "SELECT current_setting('threads'), current_setting('memory_limit')"
            ).fetchone()
            assert row is not None and row[0] == threads
            assert row[1] == {"500MB": "476.8 MiB", "2GB": "1.8 GiB"}[memory]  # DuckDB's display


def test_a_memory_limit_must_name_its_unit() -> None:
    with pytest.raises(ValueError, match="duckdb_memory"):
        ResourceSpec(duckdb_memory="lots")
