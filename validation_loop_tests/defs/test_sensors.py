"""The landing sensor, evaluated with `build_sensor_context` against a real instance."""

from __future__ import annotations

import json
import os
import time
from unittest.mock import ANY

import dagster as dg

from validation_loop.defs import sensors
from validation_loop.ingest import batch_key, file_sha256
from validation_loop.landing import landing_files
from validation_loop_tests.conftest import ROWS, landing_tick


def _age(path, seconds=60):
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_new_landing_files_become_partitions_and_runs(home, spec, write_batch) -> None:
    layout = home.loop("churn")
    human = write_batch("h.csv", folder=layout.landing("human"))
    synthetic = write_batch("s.parquet", folder=layout.landing("synthetic"))
    fresh = write_batch("still_writing.csv", folder=layout.landing("human"))
    _age(human, 120)
    _age(synthetic, 60)
    with dg.instance_for_test() as instance:
        result = landing_tick(home, instance)
        keys = [r.partition_key for r in result.run_requests]
        assert keys == [
            batch_key("human", file_sha256(human)),
            batch_key("synthetic", file_sha256(synthetic)),
        ]
        assert result.run_requests[0].run_config["ops"]["churn__batches"]["config"]["file"] == str(
            human
        )
        (request,) = result.dynamic_partitions_requests
        assert list(request.partition_keys) == keys
        assert fresh.name not in result.cursor

        again = landing_tick(home, instance, result.cursor)
        assert again.run_requests == []
        assert "no new files" in again.skip_reason.skip_message

        _age(fresh, 30)
        later = landing_tick(home, instance, again.cursor)
        assert [r.partition_key for r in later.run_requests] == [
            batch_key("human", file_sha256(fresh))
        ]


def test_replaced_file_is_requested_again(home, spec, write_batch) -> None:
    path = write_batch("h.csv", folder=home.loop("churn").landing("human"))
    _age(path, 60)
    with dg.instance_for_test() as instance:
        first = landing_tick(home, instance)
        _age(path, 30)  # same name and bytes, dropped again later
        second = landing_tick(home, instance, first.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert second.run_requests[0].partition_key == first.run_requests[0].partition_key


def test_a_file_gone_between_listing_and_hashing_is_skipped(
    home, spec, write_batch, monkeypatch, capsys
) -> None:
    """Another run moves a file right after the sensor lists the folder: the tick requests the
    other file, logs the skipped one and leaves it out of the cursor."""
    layout = home.loop("churn")
    gone = write_batch("gone.csv", folder=layout.landing("human"))
    kept = write_batch("kept.csv", ROWS[:2], folder=layout.landing("human"))
    _age(gone)
    _age(kept)
    listed = []

    def list_then_move(*args, **kwargs):
        found = landing_files(*args, **kwargs)
        listed.extend(f.path for f in found)
        gone.unlink()
        return found

    monkeypatch.setattr(sensors, "landing_files", list_then_move)
    with dg.instance_for_test() as instance:
        result = landing_tick(home, instance)
    assert sorted(listed) == sorted([gone, kept])  # both were listed
    assert [r.partition_key for r in result.run_requests] == [batch_key("human", file_sha256(kept))]
    assert json.loads(result.cursor) == {"human/kept.csv": ANY}
    logged = capsys.readouterr().err  # the sensor's log
    assert "skipped gone.csv: no such file (moved or deleted before it could be read)" in logged


def test_a_large_landing_folder_is_taken_in_slices_each_file_once(
    home, spec, write_batch, monkeypatch
) -> None:
    """With 25 new files and at most 10 runs a tick: 10, 10, 5, then nothing; oldest first."""
    monkeypatch.setattr(sensors, "MAX_RUNS_PER_TICK", 10)
    folder = home.loop("churn").landing("human")
    paths = []
    for index in range(25):
        rows = [{**ROWS[0], "customer_id": f"c{index}"}]
        paths.append(write_batch(f"b{index:02d}.csv", rows, folder=folder))
        _age(paths[-1], 600 - index)  # b00 is the oldest
    expected = [batch_key("human", file_sha256(p)) for p in paths]
    requested: list[str] = []
    sizes = []
    cursor = None
    with dg.instance_for_test() as instance:
        for _ in range(4):
            result = landing_tick(home, instance, cursor)
            sizes.append(len(result.run_requests))
            requested += [r.partition_key for r in result.run_requests]
            cursor = result.cursor
            for request in result.dynamic_partitions_requests:
                instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
    assert sizes == [10, 10, 5, 0]
    assert requested == expected
    assert len(json.loads(cursor)) == 25
