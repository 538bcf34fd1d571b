"""The warehouse lock: real concurrent processes neither fail on DuckDB's lock nor lose a batch."""

from __future__ import annotations

import multiprocessing as mp
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from validation_loop.errors import LockTimeoutError
from validation_loop.home import Home
from validation_loop.ingest import ingest_file
from validation_loop.spec import load_spec
from validation_loop.warehouse import Warehouse, list_batches

CTX = mp.get_context("spawn")


def _ingest(home_root: str, file: str, source: str, start_at: float) -> str:
    home = Home(Path(home_root))
    spec = load_spec(home.loop("churn").spec_path)
    time.sleep(max(0.0, start_at - time.time()))
    return ingest_file(home, spec, Path(file), source).batch.batch_id  # type: ignore[arg-type]


def _hold_lock(path: str, seconds: float, ready) -> None:
    with Warehouse(Path(path)).write() as con:
        con.execute("CREATE TABLE IF NOT EXISTS held (x INT)")
        ready.set()
        time.sleep(seconds)


def test_concurrent_ingests_in_separate_processes(home, spec, write_batch) -> None:
    files = []
    for index in range(4):
        rows = [
            {
                "customer_id": f"p{index}-{i}",
                "age": i,
                "region": "north",
                "active": "yes",
                "signup": "2024-01-01",
                "churned": "no",
            }
            for i in range(2000)
        ]
        files.append(write_batch(f"part{index}.parquet", rows))
    start_at = time.time() + 2.0
    with CTX.Pool(4) as pool:
        ids = pool.starmap(_ingest, [(str(home.root), str(f), "human", start_at) for f in files])
    assert len(set(ids)) == 4
    with Warehouse(home.warehouse_path).read() as con:
        assert len(list_batches(con, "churn")) == 4
        assert con.execute("SELECT count(*) FROM churn.human").fetchone() == (8000,)


def test_same_file_raced_by_two_processes_is_one_batch(home, spec, write_batch) -> None:
    first = write_batch("a.csv")
    second = write_batch("b.csv")  # same bytes, other name
    start_at = time.time() + 2.0
    with CTX.Pool(2) as pool:
        ids = pool.starmap(
            _ingest, [(str(home.root), str(f), "human", start_at) for f in (first, second)]
        )
    assert ids[0] == ids[1]
    with Warehouse(home.warehouse_path).read() as con:
        assert len(list_batches(con, "churn")) == 1
        assert con.execute("SELECT count(*) FROM churn.human").fetchone() == (3,)


@contextmanager
def _held_by_other_process(target, path: Path, seconds: float = 2.0):
    """Run `target` (a lock holder) in another process until it has the lock, then wait."""
    ready = CTX.Event()
    holder = CTX.Process(target=target, args=(str(path), seconds, ready))
    holder.start()
    assert ready.wait(30)
    try:
        yield
    finally:
        holder.join()


def test_writer_waits_for_another_process_then_proceeds(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with _held_by_other_process(_hold_lock, path):
        started = time.monotonic()
        with Warehouse(path, lock_timeout=60).write() as con:
            waited = time.monotonic() - started
            assert con.execute("SELECT count(*) FROM held").fetchone() == (0,)
    assert waited > 0.5


def test_lock_timeout_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with (
        _held_by_other_process(_hold_lock, path),
        pytest.raises(LockTimeoutError, match=r"w\.duckdb: still locked .* after 0\.5s"),
        Warehouse(path, lock_timeout=0.5).read(),
    ):
        pass


def test_foreign_duckdb_lock_is_retried(tmp_path: Path) -> None:
    """A DuckDB connection that ignores our lock file still only delays us."""
    path = tmp_path / "w.duckdb"
    with (
        _held_by_other_process(_hold_duckdb, path),
        Warehouse(path, lock_timeout=60).write() as con,
    ):
        assert con.execute("SELECT count(*) FROM foreign_table").fetchone() == (0,)


def _hold_duckdb(path: str, seconds: float, ready) -> None:
    con = duckdb.connect(path)
    con.execute("CREATE TABLE foreign_table (x INT)")
    ready.set()
    time.sleep(seconds)
    con.close()
