"""Jobs of one loop, named after what they do."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from validation_loop.defs.assets import batches_key
from validation_loop.defs.partitions import batch_partitions

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def ingest_job_name(loop: str) -> str:
    """Name of the job that ingests one batch partition."""
    return f"{loop}_ingest_batch"


def compare_job_name(loop: str) -> str:
    """Name of the job that rebuilds the inventory and compares human with synthetic."""
    return f"{loop}_compare_batches"


def build_jobs(
    loop: str, reports: list[dg.AssetKey]
) -> tuple[UnresolvedAssetJobDefinition, UnresolvedAssetJobDefinition]:
    """The loop's ingest job (one batch partition per run) and its compare job (`reports`)."""
    ingest = dg.define_asset_job(
        ingest_job_name(loop),
        selection=dg.AssetSelection.assets(batches_key(loop)),
        partitions_def=batch_partitions(loop),
        description=f"Ingest one batch file of loop {loop} into the warehouse.",
    )
    compare = dg.define_asset_job(
        compare_job_name(loop),
        selection=dg.AssetSelection.assets(*reports),
        description=(
            f"Rebuild loop {loop}'s inventory (and label quality) and compare its human truth "
            "with the current synthetic batches."
        ),
    )
    return ingest, compare
