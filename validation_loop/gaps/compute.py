"""Compute every gap of a comparison: prepare, profile both sides, run each kind, grade."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from validation_loop.errors import NothingToCompare
from validation_loop.gaps.bias import bias_findings
from validation_loop.gaps.coverage import coverage_findings
from validation_loop.gaps.detection import detection_findings
from validation_loop.gaps.diversity import diversity_findings
from validation_loop.gaps.inputs import prepare, sample_size, sample_sql
from validation_loop.gaps.joint import JointCounter
from validation_loop.gaps.marginal import marginal_findings
from validation_loop.gaps.pairs import choose_pairs
from validation_loop.gaps.pairwise import pairwise_findings
from validation_loop.gaps.privacy import privacy_findings
from validation_loop.gaps.profile import human_edges, profile
from validation_loop.gaps.records import SEVERITY_ORDER, GapRecord, grade
from validation_loop.gaps.utility import utility_findings
from validation_loop.resources import limited_threads, thread_budget
from validation_loop.spec import LoopSpec

KIND_ORDER = [
    "utility",
    "detection",
    "marginal",
    "pairwise",
    "coverage",
    "diversity",
    "privacy",
    "bias",
]


@dataclass(frozen=True)
class GapResult:
    """Every graded record of one comparison, the sizes compared and the time per stage."""

    records: list[GapRecord]
    human_rows: int
    synthetic_rows: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def gaps(self) -> list[GapRecord]:
        """Records at warn or error, worst first."""
        return [r for r in self.records if r.is_gap]

    def counts(self) -> dict[str, int]:
        """How many records per severity."""
        counts = dict.fromkeys(SEVERITY_ORDER, 0)
        for record in self.records:
            counts[record.severity] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {
            "human_rows": self.human_rows,
            "synthetic_rows": self.synthetic_rows,
            "counts": self.counts(),
            "records": [r.to_dict() for r in self.records],
        }


def compute_gaps(
    con: duckdb.DuckDBPyConnection,
    spec: LoopSpec,
    human_sql: str,
    synthetic_sql: str,
    release: Callable[[], None] | None = None,
) -> GapResult:
    """Compare the human and synthetic relations (SQL with the spec's columns, `_batch_id`, `_row`).

    The synthetic side is scanned a few times in SQL (profile, duplicates, copies, groups);
    everything else works on samples of at most `sample_size(spec)` rows per side. `release` is
    called once the connection is no longer needed (before the model checks). Numeric
    libraries' thread pools are held to the loop's thread budget throughout.
    """
    with limited_threads(thread_budget(spec.resources.threads)):
        return _compute(con, spec, human_sql, synthetic_sql, release)


def _compute(
    con: duckdb.DuckDBPyConnection,
    spec: LoopSpec,
    human_sql: str,
    synthetic_sql: str,
    release: Callable[[], None] | None,
) -> GapResult:
    """`compute_gaps` inside the thread budget."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal started
        now = time.perf_counter()
        seconds[stage] = round(now - started, 3)
        started = now

    inputs = prepare(con, spec, human_sql, synthetic_sql, sample_size(spec))
    if inputs.human_rows == 0 or inputs.synthetic_rows == 0:
        raise NothingToCompare(
            f"loop {spec.name!r}: nothing to compare ({inputs.human_rows} human rows, "
            f"{inputs.synthetic_rows} synthetic rows)"
        )
    lap("prepare")
    columns = inputs.columns
    plan = choose_pairs(inputs.human_sample, columns, spec.max_pairs)
    lap("pairs")
    rows = sample_size(spec)  # bin edges from the human sample: exact when it holds every row
    edges = human_edges(
        con, f"({sample_sql(inputs.human, rows, inputs.human_rows, spec.seed)})", columns.numeric
    )
    human = profile(con, inputs.human, columns, edges, plan.correlation)
    bounds = {c: (human.minimum[c], human.maximum[c]) for c in columns.numeric}
    synthetic = profile(con, inputs.synthetic, columns, edges, plan.correlation, bounds)
    joint = JointCounter(inputs)
    lap("profile")
    findings = marginal_findings(inputs, human, synthetic)
    lap("marginal")
    findings += pairwise_findings(inputs, human, synthetic, joint, plan)
    lap("pairwise")
    findings += coverage_findings(inputs, human, synthetic, joint)
    lap("coverage")
    findings += diversity_findings(inputs, human, synthetic)
    lap("diversity")
    findings += privacy_findings(inputs)
    lap("privacy")
    findings += bias_findings(inputs)
    lap("bias")
    if release is not None:
        release()  # the model checks need only the samples: let writers in
    if spec.models.enabled:
        findings += detection_findings(inputs)
        lap("detection")
        findings += utility_findings(inputs)
        lap("utility")
    records = grade(findings, spec.thresholds)
    records.sort(key=lambda r: (-SEVERITY_ORDER[r.severity], KIND_ORDER.index(r.kind)))
    lap("grade")
    return GapResult(records, inputs.human_rows, inputs.synthetic_rows, seconds)
