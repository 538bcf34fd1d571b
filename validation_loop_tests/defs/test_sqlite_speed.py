"""Runs inside `quick_sqlite` are stored as usual, and their SQLite files left checkpointed."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import dagster as dg

from validation_loop.defs.sqlite_speed import quick_sqlite


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="answer")])
def answer() -> dg.MaterializeResult:
    """An asset with one check: a run that logs asset and check events."""
    return dg.MaterializeResult(
        metadata={"value": 42},
        check_results=[dg.AssetCheckResult(check_name="positive", passed=True)],
    )


def test_runs_are_stored_and_checkpointed(tmp_path: Path) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        with quick_sqlite():
            results = [dg.materialize([answer], instance=instance) for _ in range(2)]
            wal = sorted(tmp_path.rglob("*.db-wal"))
        assert wal, "Dagster's databases are in WAL mode and held open during the block"
        assert all(r.success for r in results)
        for result in results:
            assert instance.get_run_by_id(result.run_id).is_success
        latest = instance.get_latest_materialization_event(dg.AssetKey("answer"))
        assert latest is not None and latest.run_id == results[-1].run_id
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("answer"), "positive")]
        )
        assert len(check) == 1
        assert not sorted(tmp_path.rglob("*.db-wal"))  # the last close checkpointed them
        for database in tmp_path.rglob("*.db"):
            with closing(sqlite3.connect(database)) as con:
                assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
