"""The demo loop: real census data as human batches, and a naive generator's synthetic batch.

The human side is a 6,000-row sample of the UCI Adult data shipped in the package. The synthetic
side comes from the simplest generator there is, one that samples every column independently
from the human data: each marginal looks right, every relation between columns (and so between
the features and the label) is gone. It is the kind of batch the loop exists to catch.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pandas as pd

from validation_loop.home import Home, LoopLayout
from validation_loop.ingest import SIDECAR_SUFFIX
from validation_loop.spec import save_spec
from validation_loop.spec_inference import infer_spec

DEMO_LOOP = "adult"
DEMO_FILE = "adult_census_sample.csv.gz"
HUMAN_BATCHES = 2
SYNTHETIC_ROWS = 8_000
GENERATOR_VERSION = "v0001"


def demo_frame() -> pd.DataFrame:
    """The shipped human-labelled sample of the Adult census data."""
    with resources.files("validation_loop.demo_data").joinpath(DEMO_FILE).open("rb") as handle:
        return pd.read_csv(handle, compression="gzip")


def sample_independent_marginals(
    frame: pd.DataFrame, rows: int, seed: int, drop: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Sample every column on its own from `frame`: marginals kept, joints lost."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            column: frame[column].to_numpy()[rng.integers(0, len(frame), rows)]
            for column in frame.columns
            if column not in drop
        }
    )


def setup_demo(home: Home) -> LoopLayout:
    """Create the demo loop (spec on first use) and drop its batch files into landing/."""
    layout = home.loop(DEMO_LOOP)
    layout.create()
    frame = demo_frame()
    human_files = []
    for index, part in enumerate(np.array_split(np.arange(len(frame)), HUMAN_BATCHES), start=1):
        path = layout.landing("human") / f"adult_human_{index:02d}.csv"
        frame.iloc[part].to_csv(path, index=False)
        human_files.append(path)
    if not layout.spec_path.exists():
        spec = infer_spec(
            DEMO_LOOP,
            human_files[0],
            label="income",
            id_column="person_id",
            slices=["workclass", "education", "marital_status"],
            sensitive=["sex", "race"],
        )
        save_spec(spec, layout.spec_path)
    synthetic = sample_independent_marginals(frame, SYNTHETIC_ROWS, seed=0, drop=("person_id",))
    path = layout.landing("synthetic") / f"adult_synthetic_{GENERATOR_VERSION}.parquet"
    synthetic.to_parquet(path, index=False)
    path.with_name(path.name + SIDECAR_SUFFIX).write_text(
        json.dumps({"generator_version": GENERATOR_VERSION}) + "\n", encoding="utf-8"
    )
    return layout
