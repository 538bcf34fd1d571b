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


def accept_job_name(loop: str) -> str:
    """Name of the job that accepts the proposed generator config."""
    return f"{loop}_accept_config"


def generate_job_name(loop: str) -> str:
    """Name of the job that makes a reference-generator batch."""
    return f"{loop}_generate_batch"


def build_jobs(
    loop: str, reports: list[dg.AssetKey], accepted: dg.AssetKey, generated: dg.AssetKey
) -> list[UnresolvedAssetJobDefinition]:
    """The loop's jobs: ingest one batch, compare (the `reports` assets), accept the proposed
    config, generate a reference batch."""
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
            f"Rebuild loop {loop}'s inventory (and label quality), compare its human truth with "
            "the current synthetic batches, write the gap report and propose the next config."
        ),
    )
    accept_job = dg.define_asset_job(
        accept_job_name(loop),
        selection=dg.AssetSelection.assets(accepted),
        description=f"Accept loop {loop}'s proposed generator config.",
    )
    generate = dg.define_asset_job(
        generate_job_name(loop),
        selection=dg.AssetSelection.assets(generated),
        description=f"Make a synthetic batch for loop {loop} with the reference generator.",
    )
    return [ingest, compare, accept_job, generate]
