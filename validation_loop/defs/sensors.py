"""Sensors of a loop: landing files become ingest runs and then a report, undelivered alerts
are retried, and failed runs alert.

Why a run request and not declarative automation for the report: the report reads every batch
at once and a compare run is expensive (model checks), so the landing sensor waits until no
ingest run of the loop is queued or running and then requests one compare run, keyed by the
newest batch, so a wave of files gives one report and no tick requests the same one twice.
"""

import json
from datetime import timedelta
from typing import Any

import dagster as dg

from validation_loop.alerts.dispatch import deliver_due, notify_run_failure
from validation_loop.defs.assets import batch_run_config
from validation_loop.defs.jobs import compare_job_name, ingest_job_name
from validation_loop.defs.partitions import batch_partitions
from validation_loop.defs.resources import HomeResource, env_value
from validation_loop.errors import FileVanished
from validation_loop.landing import landing_files
from validation_loop.render.markdown import one_line
from validation_loop.warehouse import Warehouse

SETTLE_SECONDS = 5.0
INTERVAL_SECONDS = 30
MAX_RUNS_PER_TICK = 100  # a large landing folder is taken in slices, oldest files first
ALERT_INTERVAL_SECONDS = 60
SENSOR_BUDGET = timedelta(seconds=40)  # well inside Dagster's sensor evaluation timeout
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _report_due(context: dg.SensorEvaluationContext, home: HomeResource, loop: str) -> str | None:
    """The run key of a compare run, when a batch is newer than the latest report and no
    ingest run of the loop is still in flight."""
    busy = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=ingest_job_name(loop), statuses=IN_FLIGHT), limit=1
    )
    path = home.home().warehouse_path
    if busy or not path.exists():
        return None
    with Warehouse(path).read() as con:
        newest = con.execute(
            "SELECT batch_id, ingested_at FROM batches WHERE loop = ? "
            "ORDER BY ingested_at DESC LIMIT 1",
            [loop],
        ).fetchone()
        reported = con.execute(
            "SELECT max(created_at) FROM gap_reports WHERE loop = ?", [loop]
        ).fetchone()
    if newest is None or (reported and reported[0] and reported[0] >= newest[1]):
        return None
    return f"report-after:{newest[0]}:{newest[1].isoformat()}"


def build_landing_sensor(loop: str, jobs: list[Any]) -> dg.SensorDefinition:
    """A sensor that adds a partition and requests an ingest run for each new landing file,
    then one compare run once the ingests are done (`jobs`: the ingest and compare jobs).

    Its cursor remembers each waiting file's size and modification time, so a file is hashed
    once; a tick requests at most `MAX_RUNS_PER_TICK` runs (the oldest new files), so a large
    landing folder is taken in slices instead of one tick hashing everything. A file still being
    written (changed in the last few seconds) waits for a later tick, and one gone between
    listing and hashing (another run moved it) is logged and left out.
    """
    partitions = batch_partitions(loop)

    @dg.sensor(
        name=f"{loop}_landing_sensor",
        jobs=jobs,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Turns files dropped in loops/{loop}/landing/ into batch partitions and runs.",
    )
    def landing_sensor(context: dg.SensorEvaluationContext, home: HomeResource) -> dg.SensorResult:
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        waiting = landing_files(home.home().loop(loop), settle_seconds=SETTLE_SECONDS)
        known = set(context.instance.get_dynamic_partitions(partitions.name or ""))
        cursor: dict[str, str] = {}
        requests: list[dg.RunRequest] = []
        new_keys: list[str] = []
        deferred = 0
        for file in waiting:
            ident = f"{file.source}/{file.path.name}"
            if seen.get(ident) == file.stamp:
                cursor[ident] = file.stamp
                continue
            if len(requests) == MAX_RUNS_PER_TICK:
                deferred += 1  # left out of the cursor: a later tick takes it
                continue
            cursor[ident] = file.stamp
            try:
                key = file.batch_id()
            except FileVanished as gone:  # another run moved it since the listing
                del cursor[ident]
                context.log.info(f"skipped {one_line(str(gone))}")
                continue
            if key not in known and key not in new_keys:
                new_keys.append(key)
            requests.append(
                dg.RunRequest(
                    job_name=ingest_job_name(loop),
                    run_key=f"{ident}:{file.stamp}",
                    partition_key=key,
                    run_config=batch_run_config(loop, file.path),
                    tags={"validation_loop/file": ident},
                )
            )
        if deferred:
            context.log.info(f"{deferred} more new file(s) in landing wait for the next tick")
        if not requests:
            due = _report_due(context, home, loop)
            if due is not None:
                return dg.SensorResult(
                    run_requests=[dg.RunRequest(job_name=compare_job_name(loop), run_key=due)],
                    cursor=json.dumps(cursor, sort_keys=True),
                )
            return dg.SensorResult(
                skip_reason=dg.SkipReason(f"no new files in loops/{loop}/landing/"),
                cursor=json.dumps(cursor, sort_keys=True),
            )
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[partitions.build_add_request(new_keys)]
            if new_keys
            else [],
            cursor=json.dumps(cursor, sort_keys=True),
        )

    return landing_sensor


def build_alert_sensor(loop: str) -> dg.SensorDefinition:
    """A sensor that retries the loop's undelivered alerts when they are due."""

    @dg.sensor(
        name=f"{loop}_alert_sensor",
        minimum_interval_seconds=ALERT_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Retries loop {loop}'s undelivered alerts (backoff per delivery).",
    )
    def alert_sensor(home: HomeResource) -> dg.SkipReason:
        spec = home.spec(loop)
        if not spec.alerts.routes or not home.home().warehouse_path.exists():
            return dg.SkipReason("no alert routes configured")
        summary = deliver_due(home.home(), spec, env_value, budget=SENSOR_BUDGET)
        return dg.SkipReason(
            f"retried {summary.sent + summary.pending} delivery(ies): {summary.sent} sent, "
            f"{summary.pending} still pending"
        )

    return alert_sensor


def build_run_failure_sensor(loop: str, jobs: list[Any]) -> dg.SensorDefinition:
    """A sensor that alerts every route when one of the loop's `jobs` fails."""

    @dg.run_failure_sensor(
        name=f"{loop}_run_failure_alerts",
        monitored_jobs=jobs,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Alerts loop {loop}'s routes when one of its runs fails.",
    )
    def run_failure_alerts(context: dg.RunFailureSensorContext, home: HomeResource) -> None:
        spec = home.spec(loop)
        if not spec.alerts.routes:
            return
        error = context.failure_event.message or "the run failed"
        notify_run_failure(
            home.home(),
            spec,
            context.dagster_run.job_name,
            context.dagster_run.run_id,
            error,
            env_value,
        )

    return run_failure_alerts
