"""Assemble the Definitions of every loop in a home."""

from __future__ import annotations

import dagster as dg

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
from validation_loop.defs.sensors import build_landing_sensor
from validation_loop.errors import SpecError
from validation_loop.home import Home
from validation_loop.spec import load_spec


def _long_format(home: Home, loop: str) -> bool:
    """Whether the loop's human batches carry raw judgements (a broken spec counts as no)."""
    try:
        return load_spec(home.loop(loop).spec_path).annotations.format == "long"
    except SpecError:
        return False


def loop_definitions(home: Home, loop: str) -> dg.Definitions:
    """Assets, jobs and sensors of one loop (the suite file decides its asset checks)."""
    quality = [build_label_quality_asset(loop)] if _long_format(home, loop) else []
    after = [asset.key for asset in quality]
    gaps = build_gaps_asset(loop, after)
    reports = [
        *quality,
        build_inventory_asset(loop),
        gaps,
        build_gap_report_asset(loop, gaps.key),
        build_generator_config_asset(loop),
    ]
    accepted = build_accepted_config_asset(loop)
    generated = build_reference_batch_asset(loop)
    jobs = build_jobs(loop, [asset.key for asset in reports], accepted.key, generated.key)
    return dg.Definitions(
        assets=[build_batches_asset(home, loop), *reports, accepted, generated],
        jobs=jobs,
        sensors=[build_landing_sensor(loop)],
    )


def build_definitions(home: Home) -> dg.Definitions:
    """Definitions for every loop that has a `loop.yaml` in the home."""
    return dg.Definitions.merge(
        *(loop_definitions(home, loop) for loop in home.loop_names()),
        dg.Definitions(resources={"home": HomeResource(path=str(home.root))}),
    )
