"""The schedule of a loop: rebuild its report even when no batch arrived."""

from typing import Any

import dagster as dg

from validation_loop.spec import LoopSpec


def build_report_schedule(loop: str, spec: LoopSpec | None, job: Any) -> dg.ScheduleDefinition:
    """Runs the compare job on `schedule.cron` in `schedule.timezone` (default daily 06:00 UTC):
    label quality, gaps, report with collapse and freshness findings, feedback and alerts."""
    cron, zone = (
        ("0 6 * * *", "UTC") if spec is None else (spec.schedule.cron, spec.schedule.timezone)
    )
    return dg.ScheduleDefinition(
        name=f"{loop}_scheduled_report",
        cron_schedule=cron,
        execution_timezone=zone,
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Re-checks loop {loop} on schedule ({cron}, {zone}) so stale data and collapse "
            "trends are caught without new batches."
        ),
    )
