"""Automation: the report after landing files, the schedule, alert retries, run-failure alerts."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import dagster as dg
import pytest

from validation_loop.alerts.dispatch import recent_deliveries
from validation_loop.defs.build import build_definitions
from validation_loop.defs.jobs import compare_job_name, ingest_job_name
from validation_loop.defs.resources import HomeResource
from validation_loop.defs.runs import LoopRunner
from validation_loop.spec import ScheduleSpec, save_spec
from validation_loop_tests.conftest import ROWS
from validation_loop_tests.servers import with_alerts


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def _resources(home) -> dict:
    return {"home": HomeResource(path=str(home.root))}


def _landing_tick(home, instance, cursor=None):
    defs = build_definitions(home)
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=_resources(home)
    )
    return defs.resolve_sensor_def("churn_landing_sensor")(context)


def test_landing_sensor_requests_one_report_after_the_ingests(home, spec, write_batch, instance):
    layout = home.loop("churn")
    rows = [dict(ROWS[0], customer_id=f"c{i}", age=20 + i) for i in range(40)]
    path = write_batch("h.csv", rows, folder=layout.landing("human"))
    past = time.time() - 60
    os.utime(path, (past, past))
    first = _landing_tick(home, instance)
    assert [r.job_name for r in first.run_requests] == [ingest_job_name("churn")]
    LoopRunner(home, "churn", instance).ingest([("human", path)])
    second = _landing_tick(home, instance, first.cursor)
    (request,) = second.run_requests
    assert request.job_name == compare_job_name("churn")
    assert request.run_key.startswith("report-after:human-")
    LoopRunner(home, "churn", instance).compare()  # a report of the human side's freshness
    third = _landing_tick(home, instance, second.cursor)
    assert third.run_requests == []  # the report is newer than every batch


def test_schedule_follows_loop_yaml(home, spec, instance) -> None:
    custom = spec.model_copy(
        update={"schedule": ScheduleSpec(cron="30 7 * * 1", timezone="Europe/Berlin")}
    )
    save_spec(custom, home.loop("churn").spec_path)
    defs = build_definitions(home)
    schedule = defs.resolve_schedule_def("churn_scheduled_report")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 7 * * 1", "Europe/Berlin")
    assert schedule.job_name == compare_job_name("churn")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
    )
    data = schedule.evaluate_tick(context)
    (request,) = data.run_requests
    assert request.job_name in (None, compare_job_name("churn"))


def test_run_failure_alerts_every_route(
    home, spec, write_batch, instance, http_server, monkeypatch
) -> None:
    with_alerts(
        home,
        spec,
        routes=[{"name": "team", "type": "slack", "min_severity": "error", "url_env": "TEAM_HOOK"}],
        dagster_url="http://dagster.example",
    )
    monkeypatch.setenv("TEAM_HOOK", http_server.url)
    bad = write_batch("bad.csv", [dict(ROWS[0], age="old")])
    (outcome,) = LoopRunner(home, "churn", instance).ingest([("human", bad)])
    assert outcome.error is not None
    (run,) = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    failure = next(
        e.get_dagster_event()
        for e in instance.all_logs(run.run_id)
        if e.is_dagster_event and e.get_dagster_event().event_type_value == "PIPELINE_FAILURE"
    )
    defs = build_definitions(home)
    sensor = defs.resolve_sensor_def("churn_run_failure_alerts")
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=run,
        resources=_resources(home),
    )
    sensor(context.for_run_failure())
    payload = http_server.json()
    assert "run of churn_ingest_batch failed" in payload["text"]
    assert f"http://dagster.example/runs/{run.run_id}" in str(payload["blocks"])
    (row,) = recent_deliveries(home, "churn")
    assert (row["event"], row["status"]) == ("run_failure", "sent")


def test_alert_sensor_retries_undelivered_alerts(
    home, spec, instance, http_server, monkeypatch
) -> None:
    spec = with_alerts(
        home,
        spec,
        routes=[{"name": "team", "type": "slack", "url_env": "TEAM_HOOK"}],
        backoff_seconds=0.01,
        attempts=1,
    )
    from validation_loop.alerts.dispatch import notify_run_failure

    monkeypatch.setenv("TEAM_HOOK", http_server.url)
    http_server.answers = [500]
    summary = notify_run_failure(home, spec, "churn_compare_batches", "r1", "x", os.environ.get)
    assert summary.pending == 1
    with dg.build_sensor_context(instance=instance, resources=_resources(home)) as context:
        defs = build_definitions(home)
        skip = defs.resolve_sensor_def("churn_alert_sensor")(context)
    assert "0 sent, 0 still pending" in skip.skip_message  # not due yet (backoff)
    from validation_loop.warehouse import Warehouse

    with Warehouse(home.warehouse_path).write() as con:
        con.execute("UPDATE alert_deliveries SET next_attempt_at = now() - INTERVAL 1 MINUTE")
    with dg.build_sensor_context(instance=instance, resources=_resources(home)) as context:
        skip = defs.resolve_sensor_def("churn_alert_sensor")(context)
    assert "1 sent, 0 still pending" in skip.skip_message
    assert [r["answer"] for r in http_server.requests] == [500, 200]


def test_backfill_of_batch_partitions_revalidates_stored_batches(
    home, spec, write_batch, instance
) -> None:
    runner = LoopRunner(home, "churn", instance)
    files = [write_batch(f"h{i}.csv", [dict(ROWS[0], customer_id=f"c{i}")]) for i in range(2)]
    outcomes = runner.ingest(("human", f) for f in files)
    keys = [o.batch_id for o in outcomes]
    job = build_definitions(home).resolve_job_def(ingest_job_name("churn"))
    for key in keys:  # what a UI backfill launches: one run per partition, no run config
        result = job.execute_in_process(instance=instance, partition_key=key)
        assert result.success
        (materialization,) = result.asset_materializations_for_node("churn__batches")
        assert materialization.metadata["new"].value is False
        assert materialization.partition == key
