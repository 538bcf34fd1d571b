"""Fewer disk flushes for the Dagster runs this process executes on a SQLite instance.

Dagster's SQLite storage opens a connection for every event it logs and closes it after one
transaction. In WAL mode (Dagster's setting) each commit then waits for an fsync, and each close
of a database's last connection checkpoints the WAL into it, with two more. A batch with a
hundred expectations logs some 300 events (each asset check is planned, then evaluated), so an
ingest run spent seconds, tens of seconds on a busy disk, waiting on flushes.

Inside `quick_sqlite()`, every SQLite connection SQLAlchemy opens on a WAL database uses
`synchronous=NORMAL`, SQLite's recommended setting for WAL (commits no longer flush; a power
cut may lose the last transactions but never corrupts the database), and one idle connection
per database file stays open, so closing Dagster's connections no longer checkpoints each time:
the WAL is checkpointed when the block ends (and by SQLite's automatic checkpoint meanwhile).
Other processes (the daemon, the UI) read and write the same files as usual.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def quick_sqlite() -> Iterator[None]:
    """Relax SQLite flushing for the connections opened in this block (see the module doc)."""
    keepers: dict[str, sqlite3.Connection] = {}
    lock = threading.Lock()

    def on_connect(connection: Any, _record: Any) -> None:
        if not isinstance(connection, sqlite3.Connection):
            return
        main = connection.execute("PRAGMA database_list").fetchone()
        path = str(main[2]) if main else ""
        if not path:
            return  # in memory
        if path not in keepers:
            mode = connection.execute("PRAGMA journal_mode").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                return  # a new database, before Dagster has made it WAL
            with lock:
                if path not in keepers:
                    keeper = sqlite3.connect(path, check_same_thread=False)
                    keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()  # joins WAL
                    keepers[path] = keeper
        connection.execute("PRAGMA synchronous = NORMAL")

    event.listen(Engine, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Engine, "connect", on_connect)
        with lock:
            for keeper in keepers.values():
                keeper.close()
            keepers.clear()
