"""Assemble the Definitions of every loop in a home."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from validation_loop.defs.alert_assets import build_alerts_asset
from validation_loop.defs.assets import (
    build_batches_asset,
    build_gaps_asset,
    build_inventory_asset,
    build_label_quality_asset,
)
from validation_loop.defs.feedback_assets import (
    build_accepted_config_asset,
    build_gap_report_asset,
    build_generator_config_asset,
    build_reference_batch_asset,
)
from validation_loop.defs.jobs import build_jobs
from validation_loop.defs.resources import HomeResource
from validation_loop.defs.schedules import build_report_schedule
from validation_loop.defs.sensors import (
    build_alert_sensor,
    build_landing_sensor,
    build_run_failure_sensor,
)
from validation_loop.errors import SpecError
from validation_loop.home import Home
from validation_loop.spec import LoopSpec, load_spec


def _spec(home: Home, loop: str) -> LoopSpec | None:
    """The loop's spec; None when broken (its runs report the error)."""
    try:
        return load_spec(home.loop(loop).spec_path)
    except SpecError:
        return None


def loop_definitions(home: Home, loop: str) -> dg.Definitions:
    """Assets, jobs, sensors and the schedule of one loop (the suite file decides its asset
    checks; the spec its label-quality asset and its schedule)."""
    spec = _spec(home, loop)
    long_format = spec is not None and spec.annotations.format == "long"
    quality = [build_label_quality_asset(loop)] if long_format else []
    after = [asset.key for asset in quality]
    gaps = build_gaps_asset(loop, after)
    reports = [
        *quality,
        build_inventory_asset(loop),
        gaps,
        build_gap_report_asset(loop, gaps.key),
        build_generator_config_asset(loop),
        build_alerts_asset(loop),
    ]
    accepted = build_accepted_config_asset(loop)
    generated = build_reference_batch_asset(loop)
    ingest, compare, *others = build_jobs(
        loop, [asset.key for asset in reports], accepted.key, generated.key
    )
    return dg.Definitions(
        assets=[build_batches_asset(home, loop), *reports, accepted, generated],
        jobs=[ingest, compare, *others],
        sensors=[
            build_landing_sensor(loop, [ingest, compare]),
            build_alert_sensor(loop),
            build_run_failure_sensor(loop, [ingest, compare, *others]),
        ],
        schedules=[build_report_schedule(loop, spec, compare)],
    )


def build_definitions(home: Home, loops: Sequence[str] | None = None) -> dg.Definitions:
    """Definitions for every loop that has a `loop.yaml` in the home, or just for `loops`."""
    return dg.Definitions.merge(
        *(loop_definitions(home, loop) for loop in (home.loop_names() if loops is None else loops)),
        dg.Definitions(resources={"home": HomeResource(path=str(home.root))}),
    )
