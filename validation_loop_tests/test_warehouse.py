"""The warehouse lock, raced for real: the test holds the lock (or DuckDB's own) itself until the
other processes have said they wait for it, so every test goes through the waiting branch."""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import duckdb
import pytest

from validation_loop import locks
from validation_loop.errors import LockTimeoutError
from validation_loop.home import Home
from validation_loop.ingest import ingest_file
from validation_loop.locks import file_lock
from validation_loop.spec import load_spec
from validation_loop.warehouse import Warehouse, list_batches

CTX = mp.get_context("spawn")
SAFETY_TIMEOUT = 120.0  # only reached when a test is failing anyway; nothing is timed
Message = tuple[int, str, Any]  # (child number, "waiting" | "done" | "error", text or result)


class _Forward(logging.Handler):
    """Sends a child's lock-waiting warnings to the test, tagged with the child's number."""

    def __init__(self, queue: Queue[Message], tag: int) -> None:
        super().__init__()
        self.queue = queue
        self.tag = tag

    def emit(self, record: logging.LogRecord) -> None:
        self.queue.put((self.tag, "waiting", record.getMessage()))


def _report(queue: Queue[Message], tag: int, target: Callable[..., Any], *args: Any) -> None:
    """Run `target` in a child process: its waiting warnings, then its result or its error."""
    logging.getLogger(locks.__name__).addHandler(_Forward(queue, tag))
    try:
        result = target(*args)
    except Exception as exc:
        queue.put((tag, "error", f"{type(exc).__name__}: {exc}"))
    else:
        queue.put((tag, "done", result))


class _Children:
    """Child processes that tell the test when they wait for a lock and what they returned."""

    def __init__(self) -> None:
        self.queue: Queue[Message] = CTX.Queue()
        self.processes: list[BaseProcess] = []

    def start(self, target: Callable[..., Any], *args: Any) -> None:
        """Start one child running `target(*args)`."""
        process = CTX.Process(target=_report, args=(self.queue, len(self.processes), target, *args))
        process.start()
        self.processes.append(process)

    def collect(self, kind: str) -> dict[int, Any]:
        """The first `kind` message ("waiting" or "done") of every child, by child number.

        Fails on a child's error, and on a result while waiting is expected: a child that got
        through while the test held the lock did not wait for it.
        """
        found: dict[int, Any] = {}
        while len(found) < len(self.processes):
            tag, got, value = self.queue.get(timeout=SAFETY_TIMEOUT)
            assert got != "error", f"child {tag}: {value}"
            assert (kind, got) != ("waiting", "done"), f"child {tag} did not wait: {value}"
            if got == kind:
                found.setdefault(tag, value)
        return found

    def stop(self) -> None:
        """Join every child (ending any that a failed test left waiting)."""
        for process in self.processes:
            process.join(SAFETY_TIMEOUT if process.exitcode is None else 0)
            if process.is_alive():
                process.terminate()
                process.join()


@contextmanager
def _children() -> Iterator[_Children]:
    """Children for one test, joined at its end."""
    children = _Children()
    try:
        yield children
    finally:
        children.stop()


def _hold_warehouse_lock(path: Path, exclusive: bool = True) -> AbstractContextManager[float]:
    """The warehouse's own lock file, held by the test (no DuckDB connection)."""
    return file_lock(Warehouse(path).lock_path, exclusive, SAFETY_TIMEOUT, "test")


def _count_marker(path: str) -> int:
    """Open the warehouse for writing and count the rows of the table the holder wrote."""
    with Warehouse(Path(path), lock_timeout=SAFETY_TIMEOUT).write() as con:
        row = con.execute("SELECT count(*) FROM marker").fetchone()
        assert row is not None
        return int(row[0])


def _ingest(home_root: str, file: str) -> tuple[str, bool]:
    """Ingest one human file into the `churn` loop: its batch id and whether it was new."""
    home = Home(Path(home_root))
    outcome = ingest_file(home, load_spec(home.loop("churn").spec_path), Path(file), "human")
    return outcome.batch.batch_id, outcome.new


def _ingest_when_told(home_root: str, file: str, ready: Event, go: Event) -> tuple[str, bool]:
    """Read the warehouse once (this process then knows its schema), say so, and ingest on `go`."""
    with Warehouse(Home(Path(home_root)).warehouse_path).read():
        pass
    ready.set()
    if not go.wait(SAFETY_TIMEOUT):
        raise TimeoutError("never told to go")
    return _ingest(home_root, file)


def test_a_writer_waits_for_the_lock_then_sees_the_holders_write(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with _children() as children:
        with _hold_warehouse_lock(path):
            children.start(_count_marker, str(path))
            (message,) = children.collect("waiting").values()
            assert message.startswith(f"{path}: locked by another process; waiting up to ")
            with duckdb.connect(str(path)) as con:  # written after the child was refused
                con.execute("CREATE TABLE marker AS SELECT 1 AS x")
        assert children.collect("done") == {0: 1}


def test_a_duckdb_lock_taken_outside_the_lock_file_is_retried(tmp_path: Path) -> None:
    """A DuckDB shell, say, ignores our lock file: the writer retries DuckDB's lock error."""
    path = tmp_path / "w.duckdb"
    with _children() as children:
        with duckdb.connect(str(path)) as con:
            children.start(_count_marker, str(path))
            (message,) = children.collect("waiting").values()
            assert message.startswith(f"{path}: locked by another process; waiting up to ")
            con.execute("CREATE TABLE marker AS SELECT 1 AS x")
        assert children.collect("done") == {0: 1}


def test_lock_timeout_names_the_file(tmp_path: Path) -> None:
    """flock locks belong to an open file, so the test's hold refuses its own second open."""
    path = tmp_path / "w.duckdb"
    with (
        _hold_warehouse_lock(path),
        pytest.raises(LockTimeoutError, match=r"w\.duckdb: still locked .* after 0\.5s"),
        Warehouse(path, lock_timeout=0.5).read(),
    ):
        pass


def test_ingests_held_at_the_lock_all_land_once_released(home, spec, write_batch) -> None:
    rows = [
        [
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
        for index in range(3)
    ]
    files = [write_batch(f"part{index}.parquet", part) for index, part in enumerate(rows)]
    with _children() as children:
        with _hold_warehouse_lock(home.warehouse_path):
            for file in files:
                children.start(_ingest, str(home.root), str(file))
            children.collect("waiting")
        results = children.collect("done")
    assert sorted(new for _, new in results.values()) == [True, True, True]
    assert len({batch_id for batch_id, _ in results.values()}) == 3
    with Warehouse(home.warehouse_path).read() as con:
        assert len(list_batches(con, "churn")) == 3
        assert con.execute("SELECT count(*) FROM churn.human").fetchone() == (6000,)


def test_same_file_raced_past_the_first_check_is_one_batch(home, spec, write_batch) -> None:
    """Both processes find no batch, then meet at the write lock: the second finds the first's
    batch under the lock and writes nothing."""
    files = [write_batch("a.csv"), write_batch("b.csv")]  # same bytes, other names
    readies = [CTX.Event() for _ in files]
    go = CTX.Event()
    with _children() as children:
        for file, ready in zip(files, readies, strict=True):
            children.start(_ingest_when_told, str(home.root), str(file), ready, go)
        assert all(ready.wait(SAFETY_TIMEOUT) for ready in readies)
        # A shared hold lets both through the read that looks for the batch, not to the write.
        with _hold_warehouse_lock(home.warehouse_path, exclusive=False):
            go.set()
            children.collect("waiting")
        results = children.collect("done")
    (batch_id,) = {batch_id for batch_id, _ in results.values()}
    assert sorted(new for _, new in results.values()) == [False, True]
    with Warehouse(home.warehouse_path).read() as con:
        assert [b["batch_id"] for b in list_batches(con, "churn")] == [batch_id]
        assert con.execute("SELECT count(*) FROM churn.human").fetchone() == (3,)
