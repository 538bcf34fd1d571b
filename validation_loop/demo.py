"""The demo loop: real census data as the human truth, and a reference generator that starts out
deliberately flawed and is repaired round by round by the loop's own feedback.

The human side is a 6,000-row sample of the UCI Adult data shipped in the package (two human
batches). Generator config `v0001` is fitted on it and then broken in four planted ways:

- a missing slice: no rows of `workclass = Self-emp-not-inc`;
- a shifted column: `age` shifted by +8 years;
- a biased label rate: women earn `>50K` at 2% instead of the human ~11% (and no other group
  rate is set);
- duplicates: 20% of rows repeat earlier rows.

Each round generates a batch from the current config, validates and compares it, writes a
report and a proposed next config, which the demo accepts (as a person would with
`validation-loop accept`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from validation_loop.atomic import replacing
from validation_loop.errors import ValidationLoopError
from validation_loop.feedback.generator import GeneratorConfig, fit_config
from validation_loop.feedback.reference import human_sample, make_batch
from validation_loop.feedback.versions import (
    accept,
    current_version,
    list_versions,
    load_config,
    proposals,
    save_config,
    version_name,
)
from validation_loop.home import Home, LoopLayout
from validation_loop.spec import LoopSpec, load_spec, save_spec
from validation_loop.spec_inference import infer_spec

if TYPE_CHECKING:
    import dagster as dg

DEMO_LOOP = "adult"
DEMO_FILE = "adult_census_sample.csv.gz"
HUMAN_BATCHES = 2
DEMO_ROWS = 6_000
MISSING_SLICE = "Self-emp-not-inc"
SHIFTED_COLUMN, SHIFT = "age", 8.0
BIASED_GROUP = ("sex", "Female")
BIASED_RATES = {">50K": 0.02, "<=50K": 0.98}
DUPLICATE_RATE = 0.2
SCORE_NOISE = 0.01  # round-to-round wobble of the demo's score (fresh rows every version)


def demo_frame() -> pd.DataFrame:
    """The shipped human-labelled sample of the Adult census data."""
    with resources.files("validation_loop.demo_data").joinpath(DEMO_FILE).open("rb") as handle:
        return pd.read_csv(handle, compression="gzip")


def setup_demo(home: Home) -> LoopLayout:
    """Create the demo loop (spec on first use) and drop its human batch files into landing/."""
    layout = home.loop(DEMO_LOOP)
    layout.create()
    frame = demo_frame()
    human_files = []
    for index, part in enumerate(np.array_split(np.arange(len(frame)), HUMAN_BATCHES), start=1):
        path = layout.landing("human") / f"adult_human_{index:02d}.csv"
        with replacing(path) as handle:  # never a half-written batch in landing
            frame.iloc[part].to_csv(handle, index=False)
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
        spec.feedback.rows = DEMO_ROWS
        save_spec(spec, layout.spec_path)
    return layout


def flawed_config(human: pd.DataFrame, spec: LoopSpec) -> GeneratorConfig:
    """A config fitted on the human data, then broken in the four planted ways."""
    config = fit_config(human, spec, DEMO_ROWS, version_name(1))
    config.slice_weights.pop(MISSING_SLICE, None)
    for column in config.columns.values():
        column.marginals.pop(MISSING_SLICE, None)
    config.label_model.pop(MISSING_SLICE, None)
    for marginal in config.columns[SHIFTED_COLUMN].marginals.values():
        marginal.shift = SHIFT
    column, group = BIASED_GROUP
    config.label_by_group = {column: {**config.label_by_group[column], group: dict(BIASED_RATES)}}
    config.duplicate_rate = DUPLICATE_RATE
    return config


@dataclass(frozen=True)
class Round:
    """One demo round: the version it generated with and what its report found."""

    number: int
    version: str
    score: float | None
    errors: int
    warnings: int
    report_html: Path
    proposal: str | None


def run_demo(
    home: Home,
    rounds: int,
    echo: Callable[[str], None],
    instance: dg.DagsterInstance | None = None,
    choose_next: Callable[[LoopLayout, str], str] | None = None,
) -> list[Round]:
    """Ingest the human batches, then generate -> validate -> feedback -> accept, `rounds` times
    or until no config change is left to make; a round whose score falls below the best one by
    more than the noise is rolled back (the best version made current) and ends the demo.

    Runs go to `instance` (default: the home's Dagster instance). The last round's proposal is
    left waiting for a person. `choose_next(layout, proposal)` names the version to accept
    after a round (default: the proposal, as a person accepting it would); tests use it to
    accept a version that must make the next round worse.
    """
    from validation_loop.defs.runs import LoopRunner, dagster_instance
    from validation_loop.landing import landing_files
    from validation_loop.report.store import latest_report

    layout = setup_demo(home)
    spec = load_spec(layout.spec_path)
    runner = LoopRunner(home, DEMO_LOOP, instance or dagster_instance(home))
    runner.ingest((f.source, f.path) for f in landing_files(layout) if f.source == "human")
    if not list_versions(layout):
        save_config(layout, flawed_config(human_sample(home, spec), spec))
        accept(layout, version_name(1), by="demo")
    for waiting in proposals(layout):  # a proposal from the current version, left last time
        if load_config(layout, waiting).parent == current_version(layout):
            accept(layout, waiting, by="demo")
    done = []
    for number in range(1, rounds + 1):
        batch = make_batch(home, spec)
        config = batch.config
        (outcome,) = runner.ingest([("synthetic", batch.path)])
        if outcome.error is not None:
            raise ValidationLoopError(f"round {number}: the batch failed: {outcome.error}")
        runner.compare()
        report = latest_report(home, DEMO_LOOP)
        assert report is not None
        waiting = proposals(layout)
        proposal = waiting[-1] if waiting else None
        html = home.reports_dir(DEMO_LOOP) / f"{report['report_id']}.html"
        result = Round(
            number,
            config.version,
            report["score"],
            report["counts"]["error"],
            report["counts"]["warn"],
            html,
            proposal,
        )
        done.append(result)
        score = "n/a" if result.score is None else f"{result.score:.3f}"
        echo(
            f"round {number}: generator {config.version}  score {score}  gaps: "
            f"{result.errors} error, {result.warnings} warn"
            + (f"  -> proposed {proposal}" if proposal else "")
        )
        best = max(done[:-1], key=lambda r: r.score or 0.0, default=None)
        if best is not None and (result.score or 0.0) < (best.score or 0.0) - SCORE_NOISE:
            accept(layout, best.version, by="demo")
            echo(
                f"worse than {best.version} (score {best.score:.3f}) beyond noise: "
                f"back to {best.version}"
            )
            break
        if proposal is None:
            echo(
                "converged: no gap left that a config change can close; the rest are "
                "recommendations for a person (see the report)"
            )
            break
        if number < rounds:
            accept(layout, choose_next(layout, proposal) if choose_next else proposal, by="demo")
    echo(f"current generator config: {current_version(layout)}")
    return done
