"""The landing sensor: each new landing file becomes a batch partition and an ingest run."""

import json

import dagster as dg

from validation_loop.defs.assets import batch_run_config
from validation_loop.defs.jobs import ingest_job_name
from validation_loop.defs.partitions import batch_partitions
from validation_loop.defs.resources import HomeResource
from validation_loop.landing import landing_files

SETTLE_SECONDS = 5.0
INTERVAL_SECONDS = 30


def build_landing_sensor(loop: str) -> dg.SensorDefinition:
    """A sensor that adds a partition and requests an ingest run for each new landing file.

    Its cursor remembers each waiting file's size and modification time, so a file is hashed
    once; a file still being written (changed in the last few seconds) waits for a later tick.
    """
    partitions = batch_partitions(loop)

    @dg.sensor(
        name=f"{loop}_landing_sensor",
        job_name=ingest_job_name(loop),
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
        for file in waiting:
            ident = f"{file.source}/{file.path.name}"
            cursor[ident] = file.stamp
            if seen.get(ident) == file.stamp:
                continue
            key = file.batch_id()
            if key not in known and key not in new_keys:
                new_keys.append(key)
            requests.append(
                dg.RunRequest(
                    run_key=f"{ident}:{file.stamp}",
                    partition_key=key,
                    run_config=batch_run_config(loop, file.path),
                    tags={"validation_loop/file": ident},
                )
            )
        if not requests:
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
