"""Jobs of one loop, named after what they do."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from validation_loop.defs.assets import batches_key, inventory_key
from validation_loop.defs.partitions import batch_partitions

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def ingest_job_name(loop: str) -> str:
    """Name of the job that ingests one batch partition."""
    return f"{loop}_ingest_batch"


def refresh_job_name(loop: str) -> str:
    """Name of the job that rebuilds the loop's unpartitioned assets."""
    return f"{loop}_refresh_inventory"


def build_jobs(
    loop: str,
) -> tuple[UnresolvedAssetJobDefinition, UnresolvedAssetJobDefinition]:
    """The loop's ingest job (one batch partition per run) and its refresh job."""
    ingest = dg.define_asset_job(
        ingest_job_name(loop),
        selection=dg.AssetSelection.assets(batches_key(loop)),
        partitions_def=batch_partitions(loop),
        description=f"Ingest one batch file of loop {loop} into the warehouse.",
    )
    refresh = dg.define_asset_job(
        refresh_job_name(loop),
        selection=dg.AssetSelection.assets(inventory_key(loop)),
        description=f"Rebuild what loop {loop} reports from the warehouse.",
    )
    return ingest, refresh
