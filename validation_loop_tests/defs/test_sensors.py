"""The landing sensor, evaluated with `build_sensor_context` against a real instance."""

from __future__ import annotations

import os
import time

import dagster as dg

from validation_loop.defs.build import build_definitions
from validation_loop.defs.resources import HomeResource
from validation_loop.ingest import batch_key, file_sha256


def _age(path, seconds=60):
    past = time.time() - seconds
    os.utime(path, (past, past))


def _tick(home, instance, cursor=None):
    defs = build_definitions(home)
    sensor = defs.resolve_sensor_def("churn_landing_sensor")
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs,
        resources={"home": HomeResource(path=str(home.root))},
    )
    return sensor(context)


def test_new_landing_files_become_partitions_and_runs(home, spec, write_batch) -> None:
    layout = home.loop("churn")
    human = write_batch("h.csv", folder=layout.landing("human"))
    synthetic = write_batch("s.parquet", folder=layout.landing("synthetic"))
    fresh = write_batch("still_writing.csv", folder=layout.landing("human"))
    _age(human, 120)
    _age(synthetic, 60)
    with dg.instance_for_test() as instance:
        result = _tick(home, instance)
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

        again = _tick(home, instance, result.cursor)
        assert again.run_requests == []
        assert "no new files" in again.skip_reason.skip_message

        _age(fresh, 30)
        later = _tick(home, instance, again.cursor)
        assert [r.partition_key for r in later.run_requests] == [
            batch_key("human", file_sha256(fresh))
        ]


def test_replaced_file_is_requested_again(home, spec, write_batch) -> None:
    path = write_batch("h.csv", folder=home.loop("churn").landing("human"))
    _age(path, 60)
    with dg.instance_for_test() as instance:
        first = _tick(home, instance)
        _age(path, 30)  # same name and bytes, dropped again later
        second = _tick(home, instance, first.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert second.run_requests[0].partition_key == first.run_requests[0].partition_key
