"""Run the reference generator for a loop: a first config from the human truth, and batches.

A batch goes to `landing/synthetic/` with a sidecar naming its generator version, so it enters
the loop like any team's batch. To plug in your own generator instead, write its output to the
same folder with the same sidecar (`{"generator_version": "..."}`) and read the report's
`recommendations` (README "Plug in your own generator").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from validation_loop.atomic import replacing, write_text
from validation_loop.errors import NothingToCompare
from validation_loop.feedback.generator import GeneratorConfig, fit_config, generate
from validation_loop.feedback.versions import (
    accept,
    current_version,
    load_config,
    save_config,
    version_name,
)
from validation_loop.gaps.selection import human_truth, seeded_sample
from validation_loop.home import Home
from validation_loop.ingest import SIDECAR_SUFFIX
from validation_loop.spec import LoopSpec
from validation_loop.warehouse import Warehouse


def human_sample(home: Home, spec: LoopSpec) -> pd.DataFrame:
    """A seeded sample (at most `sample_rows`) of the loop's usable human truth."""
    with Warehouse(home.warehouse_path).read() as con:
        sql = human_truth(con, spec)
        if sql is None:
            raise NothingToCompare(f"loop {spec.name!r} has no validated human batch yet")
        return seeded_sample(con, spec, sql)


def initial_config(home: Home, spec: LoopSpec) -> GeneratorConfig:
    """Fit `v0001` on the human truth, store it and make it current."""
    config = fit_config(human_sample(home, spec), spec, spec.feedback.rows, version_name(1))
    config.created_at = datetime.now(UTC).isoformat()
    layout = home.loop(spec.name)
    save_config(layout, config)
    accept(layout, config.version, by="init")
    return config


@dataclass(frozen=True)
class GeneratedBatch:
    """A batch the reference generator wrote: where, from which config, how many rows."""

    path: Path
    config: GeneratorConfig
    rows: int


def make_batch(
    home: Home, spec: LoopSpec, version: str | None = None, rows: int | None = None
) -> GeneratedBatch:
    """Generate a batch from a version (default: the current one) into landing/synthetic."""
    layout = home.loop(spec.name)
    chosen = version or current_version(layout)
    config = load_config(layout, chosen) if chosen else initial_config(home, spec)
    reference = human_sample(home, spec) if config.min_distance > 0 else None
    frame = generate(config, rows, reference)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = layout.landing("synthetic") / f"{spec.name}_{config.version}_{stamp}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(  # the sidecar first: the batch is whole and tagged when it appears
        path.with_name(path.name + SIDECAR_SUFFIX),
        json.dumps({"generator_version": config.version, "generator": "reference"}) + "\n",
    )
    with replacing(path, "wb") as handle:
        frame.to_parquet(handle, index=False)
    return GeneratedBatch(path, config, len(frame))
