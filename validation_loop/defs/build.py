"""Assemble the Definitions of every loop in a home."""

from __future__ import annotations

import dagster as dg

from validation_loop.defs.assets import (
    build_batches_asset,
    build_gaps_asset,
    build_inventory_asset,
)
from validation_loop.defs.jobs import build_jobs
from validation_loop.defs.resources import HomeResource
from validation_loop.defs.sensors import build_landing_sensor
from validation_loop.home import Home


def loop_definitions(home: Home, loop: str) -> dg.Definitions:
    """Assets, jobs and sensors of one loop (the suite file decides its asset checks)."""
    ingest, compare = build_jobs(loop)
    return dg.Definitions(
        assets=[
            build_batches_asset(home, loop),
            build_inventory_asset(loop),
            build_gaps_asset(loop),
        ],
        jobs=[ingest, compare],
        sensors=[build_landing_sensor(loop)],
    )


def build_definitions(home: Home) -> dg.Definitions:
    """Definitions for every loop that has a `loop.yaml` in the home."""
    return dg.Definitions.merge(
        *(loop_definitions(home, loop) for loop in home.loop_names()),
        dg.Definitions(resources={"home": HomeResource(path=str(home.root))}),
    )
