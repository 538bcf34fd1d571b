"""Compute every gap of a comparison: prepare, profile both sides, run each kind, grade."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb

from validation_loop.errors import NothingToCompare
from validation_loop.gaps.bias import bias_findings
from validation_loop.gaps.coverage import coverage_findings
from validation_loop.gaps.detection import detection_findings
from validation_loop.gaps.diversity import diversity_findings
from validation_loop.gaps.inputs import GapInputs, prepare, sample_size
from validation_loop.gaps.joint import JointCounter
from validation_loop.gaps.marginal import marginal_findings
from validation_loop.gaps.matches import exact_matches
from validation_loop.gaps.pairs import choose_pairs
from validation_loop.gaps.pairwise import pairwise_findings
from validation_loop.gaps.privacy import copy_findings, dcr_findings
from validation_loop.gaps.profile import human_edges, profile
from validation_loop.gaps.records import SEVERITY_ORDER, Finding, GapRecord, grade
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
    called once the connection is no longer needed (the sample checks may still run). Numeric
    libraries' thread pools are held to the loop's thread budget throughout.
    """
    with limited_threads(thread_budget(spec.resources.threads)):
        return _compute(con, spec, human_sql, synthetic_sql, release)


class _SampleChecks:
    """Utility, detection and DCR: begun in a worker thread beside the statistical checks.

    These need only the samples (model fits, nearest neighbours), while the statistical checks
    are mostly DuckDB scans. With a budget of two threads or more a worker takes the sample
    checks one by one on one OpenMP thread while DuckDB gets the rest of the budget, and gives
    its thread back to DuckDB when no check is left; once the statistical checks are done the
    calling thread takes the checks still waiting, on the rest.
    BLAS's pool belongs to the whole process, so it stays at one thread while the worker runs.
    Neither side waits for the other and the run never uses more threads than the budget.
    """

    def __init__(self, inputs: GapInputs, con: duckdb.DuckDBPyConnection, budget: int) -> None:
        checks: list[tuple[str, Callable[[GapInputs], list[Finding]]]] = []
        if inputs.spec.models.enabled:  # longest first, for the best split between threads
            checks += [("utility", utility_findings), ("detection", detection_findings)]
        checks.append(("dcr", dcr_findings))
        self._order = [name for name, _ in checks]
        self._waiting: queue.SimpleQueue[tuple[str, Callable[[GapInputs], list[Finding]]]] = (
            queue.SimpleQueue()
        )
        for check in checks:
            self._waiting.put(check)
        self._found: dict[str, list[Finding]] = {}
        self.seconds: dict[str, float] = {}
        self._inputs, self._con, self._budget = inputs, con, budget
        self._worker: Future[None] | None = None
        self._connection, self._connected = threading.Lock(), True
        self._blas = ExitStack()

    def __enter__(self) -> _SampleChecks:
        if self._budget >= 2:
            self._blas.enter_context(limited_threads(1, blas_only=True))
            self._con.execute(f"SET threads = {self._budget - 1}")
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sample-checks")
            self._worker = pool.submit(self._work, _with_threads(self._inputs, 1))
            pool.shutdown(wait=False)  # the thread ends when the queue is empty
        return self

    def __exit__(self, *failure: object) -> None:
        while not self._waiting.empty():  # on failure, start nothing new
            self._waiting.get_nowait()
        if self._worker is not None:
            wait([self._worker])
        self._blas.close()

    def _work(self, inputs: GapInputs) -> None:
        """The worker: take checks until none is left, then hand its thread back to DuckDB
        (a global setting, so set on a connection of its own), whose scans of a large table
        would otherwise go on at one thread."""
        self._take(inputs)
        with self._connection:
            if self._connected:
                with self._con.cursor() as own:
                    own.execute(f"SET threads = {self._budget}")

    def disconnect(self) -> None:
        """The statistical checks are done with the connection: the worker leaves it alone."""
        with self._connection:
            self._connected = False

    def _take(self, inputs: GapInputs) -> None:
        """Run waiting checks until none is left, on this thread's share of the budget."""
        with limited_threads(thread_budget(inputs.spec.resources.threads), openmp_only=True):
            while True:
                try:
                    name, check = self._waiting.get_nowait()
                except queue.Empty:
                    return
                started = time.perf_counter()
                self._found[name] = check(inputs)
                self.seconds[name] = round(time.perf_counter() - started, 3)

    def findings(self) -> list[Finding]:
        """Every check's findings: takes the checks still waiting, then waits for the worker."""
        if self._worker is None:
            with limited_threads(self._budget):
                self._take(self._inputs)
        else:
            self._take(_with_threads(self._inputs, self._budget - 1))
            self._worker.result()
        return [finding for name in self._order for finding in self._found[name]]


def _with_threads(inputs: GapInputs, threads: int) -> GapInputs:
    """The same inputs with the loop's thread budget set to `threads`."""
    resources = inputs.spec.resources.model_copy(update={"threads": threads})
    return replace(inputs, spec=inputs.spec.model_copy(update={"resources": resources}))


class _Stopwatch:
    """Seconds per stage, each from the end of the one before."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._started = time.perf_counter()

    def lap(self, stage: str) -> None:
        """Close `stage` now."""
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._started, 3)
        self._started = now


def _compute(
    con: duckdb.DuckDBPyConnection,
    spec: LoopSpec,
    human_sql: str,
    synthetic_sql: str,
    release: Callable[[], None] | None,
) -> GapResult:
    """`compute_gaps` inside the thread budget."""
    watch = _Stopwatch()
    inputs = prepare(con, spec, human_sql, synthetic_sql, sample_size(spec))
    if inputs.human_rows == 0 or inputs.synthetic_rows == 0:
        raise NothingToCompare(
            f"loop {spec.name!r}: nothing to compare ({inputs.human_rows} human rows, "
            f"{inputs.synthetic_rows} synthetic rows)"
        )
    watch.lap("prepare")
    with _SampleChecks(inputs, con, thread_budget(spec.resources.threads)) as samples:
        findings = _statistical(inputs, watch)
        samples.disconnect()
        if release is not None:
            release()  # the sample checks need no connection: let writers in
        findings += samples.findings()
        watch.lap("sample checks (wait)")
    records = grade(findings, spec.thresholds)
    records.sort(key=lambda r: (-SEVERITY_ORDER[r.severity], KIND_ORDER.index(r.kind)))
    watch.lap("grade")
    return GapResult(
        records, inputs.human_rows, inputs.synthetic_rows, watch.seconds | samples.seconds
    )


def _statistical(inputs: GapInputs, watch: _Stopwatch) -> list[Finding]:
    """The checks that scan the relations on the connection (and read the samples)."""
    con, spec, columns = inputs.con, inputs.spec, inputs.columns
    plan = choose_pairs(inputs.human_sample, columns, spec.max_pairs)
    watch.lap("pairs")
    edges = human_edges({c: inputs.sorted_values("human", c) for c in columns.numeric})
    human = profile(con, inputs.human, columns, edges, plan.correlation)
    bounds = {c: (human.minimum[c], human.maximum[c]) for c in columns.numeric}
    synthetic = profile(con, inputs.synthetic, columns, edges, plan.correlation, bounds)
    joint = JointCounter(inputs)
    watch.lap("profile")
    findings = marginal_findings(inputs, human, synthetic)
    watch.lap("marginal")
    findings += pairwise_findings(inputs, human, synthetic, joint, plan)
    watch.lap("pairwise")
    findings += coverage_findings(inputs, human, synthetic, joint)
    watch.lap("coverage")
    matches = exact_matches(con, inputs.human, inputs.synthetic, columns.compared, inputs.seed)
    watch.lap("exact matches")
    findings += diversity_findings(inputs, human, synthetic, matches)
    watch.lap("diversity")
    findings += copy_findings(inputs, matches)
    findings += bias_findings(inputs)
    watch.lap("bias")
    return findings
