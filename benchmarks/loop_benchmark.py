"""Seconds and peak memory of the whole loop, driven through the CLI as a user drives it.

Usage: python benchmarks/loop_benchmark.py [--case small|1m|10m|wide]... [--alone|--concurrent]
       [--scale 0.01] [--timeout 900] [--data-dir build/bench-data] [--json PATH]
       [--sdmetrics-python /tmp/sdm-venv/bin/python]

Every case gets a fresh home and runs three steps, each a separate process of the
`validation-loop` command next to this Python: `init` from the human file (timed), dropping the
human and the synthetic file into `landing/` (not timed), and `run` (timed). Cases:

- `small`: scikit-learn's bundled digits (1,797 rows, no download): the 13 pixel columns with
  the most variance, a categorical slice `ink` (terciles of the total ink) and the label
  `digit`; random halves as human and synthetic, CSV.
- `1m`, `10m`: 1,000,000 / 10,000,000 rows per side, 16 columns (9 numeric, 6 categorical, a
  16-class label), Parquet, written by DuckDB SQL. The synthetic side has planted gaps: `x0`
  shifted by half a standard deviation, `x2`'s spread flattened, the `c0` slice `r7` missing,
  and the label mostly noise where the sensitive `c2` is `b`.
- `wide`: 1,000 columns (980 numeric, 19 categorical, a binary label) x 5,000 rows per side,
  Parquet, written with numpy; 50 numeric columns shifted on the synthetic side.

Each case runs alone, and again (`--concurrent` for only this row) while a second loop, the
small case as loop `background`, runs over and over in the same home (`--background-home
separate`: its own home) until the measured run ends: the normal state of a Dagster host.
`--scale` shrinks the rows of 1m, 10m and wide for a smoke run. Data files are generated once
into `--data-dir` and reused. A step that outlives `--timeout` is killed (its process group)
and recorded as "timeout".

Peak memory is the max RSS from `/usr/bin/time -v` around each step, else from
`getrusage(RUSAGE_CHILDREN)` in a wrapper process: both are the largest single process of the
step's process tree (the kernel's ru_maxrss), not the sum over it. The run's stages come from
the warehouse's own timestamps (`batches.ingested_at`, `expectation_results.validated_at`,
`label_quality.computed_at`, `gap_records.computed_at`, `gap_reports.created_at`): each is the
time from the previous milestone (the first from the start of the process, imports included).

The 1m targets compare the loop with SDMetrics' QualityReport on the same files. sdmetrics
needs pandas < 3, so it runs in its own environment, never the project's:

    python3.11 -m venv /tmp/sdm-venv
    /tmp/sdm-venv/bin/pip install sdmetrics 'pandas<3' pyarrow
    python benchmarks/loop_benchmark.py --case 1m --sdmetrics-python /tmp/sdm-venv/bin/python

which times `QualityReport.generate(real, synthetic, metadata)` on the 1m files with
`benchmarks/sdmetrics_quality.py` in that interpreter (loading the files not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
GNU_TIME = Path("/usr/bin/time")
GB = 1e9  # the "2 GB"
CASES = ["small", "1m", "10m", "wide"]
BACKGROUND_LOOP = "background"

RUSAGE_WRAPPER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(f"Maximum resident set size (kbytes): "
              f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n")
sys.exit(code)
"""


@dataclass(frozen=True)
class CaseData:
    """One case's files and the `init` options that describe them."""

    name: str
    human: Path
    synthetic: Path
    rows: int
    columns: int
    init_options: list[str]


@dataclass
class Step:
    """One measured process: seconds, peak RSS, and how it ended."""

    seconds: float
    peak_mib: float | None
    status: str  # ok | failed (exit N) | timeout
    cpu_seconds: float | None = None  # user + system, from /usr/bin/time -v
    stderr_tail: str = ""
    stdout_tail: str = ""


@dataclass
class CaseResult:
    """One row of the table."""

    case: str
    mode: str
    rows: int
    columns: int
    init: Step | None = None
    run: Step | None = None
    stages: dict[str, float] = field(default_factory=dict)
    background: list[Step] = field(default_factory=list)
    failure_causes: str = ""
    target: str = ""
    verdict: str = ""

    @property
    def total(self) -> float | None:
        """init + run seconds, when both finished."""
        if self.init is None or self.run is None:
            return None
        if self.init.status != "ok" or self.run.status != "ok":
            return None
        return self.init.seconds + self.run.seconds

    @property
    def peak_mib(self) -> float | None:
        """The larger peak of init and run."""
        peaks = [s.peak_mib for s in (self.init, self.run) if s and s.peak_mib is not None]
        return max(peaks) if peaks else None


# ---------------------------------------------------------------- data


def _fresh(directory: Path, params: dict[str, Any]) -> bool:
    """Whether `directory` already holds the files made with exactly `params`."""
    marker = directory / "params.json"
    return marker.exists() and json.loads(marker.read_text()) == params


def _done(directory: Path, params: dict[str, Any]) -> None:
    (directory / "params.json").write_text(json.dumps(params))


def small_data(data_dir: Path) -> CaseData:
    """Digits (bundled with scikit-learn): 13 pixels, an `ink` slice, the `digit` label."""
    from sklearn.datasets import load_digits

    directory = data_dir / "small"
    human, synthetic = directory / "human.csv", directory / "synthetic.csv"
    params = {"case": "small", "seed": 0, "version": 1}
    digits = load_digits()
    pixels = digits.data
    keep = sorted(np.argsort(pixels.var(axis=0))[-13:])
    if not _fresh(directory, params):
        directory.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(pixels[:, keep].astype(int), columns=[f"p{i:02d}" for i in keep])
        ink = pixels.sum(axis=1)
        frame["ink"] = np.select(
            [ink < np.quantile(ink, 1 / 3), ink < np.quantile(ink, 2 / 3)],
            ["light", "medium"],
            "heavy",
        )
        frame["digit"] = [f"d{t}" for t in digits.target]
        order = np.random.default_rng(0).permutation(len(frame))
        half = len(frame) // 2
        frame.iloc[order[:half]].to_csv(human, index=False)
        frame.iloc[order[half:]].to_csv(synthetic, index=False)
        _done(directory, params)
    return CaseData(
        "small",
        human,
        synthetic,
        len(pixels) // 2,
        len(keep) + 2,
        ["--label", "digit", "--task", "classification", "--slice", "ink"],
    )


def _table_sql(rows: int, seed: int, planted: bool) -> str:
    """16 columns from hashes of the row number (same every time); `planted` adds the gaps."""

    def uniform(k: int) -> str:
        return f"(hash(i, {k}, {seed}) % 1000003) / 1000003.0"

    def normal(k: int) -> str:  # sum of three uniforms, centred, sd about 1
        return f"(({uniform(k)} + {uniform(k + 100)} + {uniform(k + 200)}) - 1.5) * 2.0"

    shift, spread = ("5.0", "0.4") if planted else ("0.0", "1.0")
    numeric = [
        f"{normal(0)} * 10 + 40 + {shift} AS x0",
        f"0.6 * {normal(0)} + 0.8 * {normal(1)} AS x1",
        f"exp({normal(2)} * {spread}) AS x2",
        *(f"{normal(k)} * {k} + {k * 10} AS x{k}" for k in range(3, 9)),
    ]
    c0 = f"'r' || floor(pow({uniform(10)}, 2) * 8)::INT"
    if planted:
        c0 = f"replace({c0}, 'r7', 'r0')"
    categorical = [
        f"{c0} AS c0",
        f"'s' || floor({uniform(11)} * 12)::INT AS c1",
        f"CASE WHEN {uniform(12)} < 0.4 THEN 'b' ELSE 'a' END AS c2",
        f"'t' || floor({uniform(13)} * 30)::INT AS c3",
        f"CASE WHEN {normal(0)} > 0 THEN 'hi' ELSE 'lo' END || floor({uniform(14)} * 2)::INT AS c4",
        f"'u' || floor(pow({uniform(15)}, 3) * 100)::INT AS c5",
    ]
    noise = "CASE WHEN c2 = 'b' THEN 0.6 ELSE 0.2 END" if planted else "0.2"
    label = (
        f"'k' || lpad((CASE WHEN {uniform(20)} < {noise} THEN floor({uniform(21)} * 16)::INT "
        "ELSE (least(3, greatest(0, floor((x0 - 25) / 10)::INT)) * 4 "
        "+ (c2 = 'b')::INT * 2 + (x1 > 0)::INT) END)::VARCHAR, 2, '0') AS label"
    )
    return (
        f"SELECT * EXCLUDE (i), {label} FROM (SELECT i, {', '.join(numeric + categorical)} "
        f"FROM range({rows}) t(i))"
    )


def long_data(data_dir: Path, name: str, rows: int) -> CaseData:
    """The 1m / 10m case: two Parquet files of `rows` rows, written by DuckDB."""
    directory = data_dir / f"{name}-{rows}"
    human, synthetic = directory / "human.parquet", directory / "synthetic.parquet"
    params = {"case": "long", "rows": rows, "version": 1}
    if not _fresh(directory, params):
        directory.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        for path, seed, planted in ((human, 1, False), (synthetic, 2, True)):
            con.execute(f"COPY ({_table_sql(rows, seed, planted)}) TO '{path}' (FORMAT PARQUET)")
        con.close()
        _done(directory, params)
    return CaseData(
        name,
        human,
        synthetic,
        rows,
        16,
        ["--label", "label", "--task", "classification", "--slice", "c0", "--sensitive", "c2"],
    )


def wide_data(data_dir: Path, rows: int, numeric: int = 980, categorical: int = 19) -> CaseData:
    """The wide case: `numeric` + `categorical` + a label column, written with numpy."""
    directory = data_dir / f"wide-{rows}"
    human, synthetic = directory / "human.parquet", directory / "synthetic.parquet"
    params = {"case": "wide", "rows": rows, "shape": [numeric, categorical], "version": 1}
    if not _fresh(directory, params):
        directory.mkdir(parents=True, exist_ok=True)
        for path, seed, planted in ((human, 1, False), (synthetic, 2, True)):
            rng = np.random.default_rng(seed)
            factors = rng.standard_normal((rows, 10))
            values = factors @ rng.standard_normal((10, numeric)) * 0.5 + rng.standard_normal(
                (rows, numeric)
            )
            if planted:
                values[:, :50] += 0.5
            codes = rng.integers(0, 5, (rows, categorical))
            columns: dict[str, Any] = {f"f{j:04d}": values[:, j] for j in range(numeric)}
            for j in range(categorical):
                columns[f"g{j:02d}"] = pa.array([f"v{c}" for c in codes[:, j]])
            score = factors[:, 0] + (codes[:, 0] == 0) + rng.standard_normal(rows) * 0.5
            columns["label"] = pa.array(np.where(score > 0.2, "yes", "no"))
            pq.write_table(pa.table(columns), path)
        _done(directory, params)
    return CaseData(
        "wide",
        human,
        synthetic,
        rows,
        numeric + categorical + 1,
        ["--label", "label", "--task", "classification", "--slice", "g00"],
    )


def case_data(name: str, data_dir: Path, scale: float) -> CaseData:
    """The case's files, generated on first use."""
    if name == "small":
        return small_data(data_dir)
    if name == "wide":
        return wide_data(data_dir, max(200, round(5_000 * scale)))
    rows = {"1m": 1_000_000, "10m": 10_000_000}[name]
    return long_data(data_dir, name, max(1_000, round(rows * scale)))


# ---------------------------------------------------------------- measuring


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.strip().splitlines()[-lines:])


LIVE: set[subprocess.Popen[bytes]] = set()  # steps under way, killed if the benchmark stops


def kill_live() -> None:
    """Kill the process group of every step still running (only the ones this script started)."""
    for process in list(LIVE):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def measure(command: Sequence[str], logs: Path, timeout: float) -> Step:
    """Run `command` under /usr/bin/time -v (else a getrusage wrapper); kill it at `timeout`."""
    logs.parent.mkdir(parents=True, exist_ok=True)
    rss_file = logs.with_suffix(".rss")
    if GNU_TIME.exists():
        wrapped = [str(GNU_TIME), "-v", "-o", str(rss_file), *command]
    else:
        wrapped = [sys.executable, "-c", RUSAGE_WRAPPER, str(rss_file), *command]
    out, err = logs.with_suffix(".out"), logs.with_suffix(".err")
    with out.open("w") as stdout, err.open("w") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(wrapped, stdout=stdout, stderr=stderr, start_new_session=True)
        LIVE.add(process)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the step's own process group only
            process.wait()
            LIVE.discard(process)
            return Step(
                time.perf_counter() - started, None, "timeout", None, _tail(err), _tail(out)
            )
        LIVE.discard(process)  # not in `finally`: a step interrupted here is killed by main
        seconds = time.perf_counter() - started
    peak, cpu = None, None
    if rss_file.exists():
        for line in rss_file.read_text().splitlines():
            name, _, value = line.strip().rpartition(":")
            if name.startswith("Maximum resident set size"):
                peak = int(value) / 1024
            elif name in ("User time (seconds)", "System time (seconds)"):
                cpu = (cpu or 0.0) + float(value)
    status = "ok" if code == 0 else f"failed (exit {code})"
    return Step(seconds, peak, status, cpu, _tail(err), _tail(out))


def drop(data: CaseData, home: Path, loop: str) -> None:
    """Copy the two files into the loop's landing folders (the run moves them to its archive)."""
    for source, path in (("human", data.human), ("synthetic", data.synthetic)):
        target = home / "loops" / loop / "landing" / source / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def run_stages(home: Path, loop: str, started: float, ended: float) -> dict[str, float]:
    """Seconds between the run's milestones, from the warehouse's own timestamps."""
    database = home / "warehouse.duckdb"
    if not database.exists():
        return {}
    queries = [
        "SELECT 'ingest ' || source, epoch(ingested_at) FROM batches "
        "WHERE loop = $loop AND epoch(ingested_at) >= $start",
        "SELECT 'validate ' || b.source, epoch(max(e.validated_at)) FROM expectation_results e "
        "JOIN batches b USING (loop, batch_id) WHERE e.loop = $loop "
        "AND epoch(e.validated_at) >= $start GROUP BY b.source, e.batch_id",
        "SELECT 'label quality', epoch(computed_at) FROM label_quality "
        "WHERE loop = $loop AND epoch(computed_at) >= $start",
        "SELECT 'gaps', epoch(max(computed_at)) FROM gap_records "
        "WHERE loop = $loop AND epoch(computed_at) >= $start GROUP BY comparison_id",
        "SELECT 'report', epoch(created_at) FROM gap_reports "
        "WHERE loop = $loop AND epoch(created_at) >= $start",
    ]
    milestones: list[tuple[float, str]] = []
    try:
        con = duckdb.connect(str(database), read_only=True)
    except duckdb.Error:
        return {}
    with con:
        for query in queries:
            try:
                rows = con.execute(query, {"loop": loop, "start": started}).fetchall()
            except duckdb.Error:
                continue  # a table this version of the pipeline does not have
            milestones += [(stamp, name) for name, stamp in rows if stamp <= ended]
    stages: dict[str, float] = {}
    previous = started
    for stamp, name in sorted(milestones):
        key = name if name not in stages else f"{name} ({sum(k.startswith(name) for k in stages)})"
        stages[key] = round(stamp - previous, 2)
        previous = stamp
    stages["rest (report files, config, exit or kill)"] = round(ended - previous, 2)
    return stages


FAILURE_CAUSE = """
import sys
import dagster as dg
instance = dg.DagsterInstance.from_config(sys.argv[1])
for run in instance.get_runs(limit=int(sys.argv[2])):
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is not None and event.is_step_failure and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None:
                error = error.cause
            print(f"{run.job_name}: {error.to_string().strip()}")
"""


def failure_causes(home: Path, runs: int = 20) -> str:
    """The innermost error of every failed step in the home's latest Dagster runs.

    The CLI prints only Dagster's wrapper ("Error occurred while executing op ..."); the cause
    is in the Dagster instance's event log, read here through Dagster's public API.
    """
    if not (home / "dagster").is_dir():
        return ""
    done = subprocess.run(
        [sys.executable, "-c", FAILURE_CAUSE, str(home / "dagster"), str(runs)],
        capture_output=True,
        text=True,
        check=False,
    )
    return (done.stdout or done.stderr).strip()


class Background:
    """A second loop's `run`, over and over in its own thread, until `stop`."""

    def __init__(self, run_once: Callable[[int], Step]) -> None:
        self.run_once = run_once
        self.steps: list[Step] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            step = self.run_once(len(self.steps))
            self.steps.append(step)
            if step.status != "ok":
                return

    def start(self) -> None:
        """Start the first run."""
        self.thread.start()

    def stop(self) -> list[Step]:
        """Let the run under way finish; return every run's step."""
        self.stopping.set()
        self.thread.join()
        return self.steps


def run_case(
    data: CaseData,
    mode: str,
    args: argparse.Namespace,
    cli: str,
    work: Path,
    background_data: CaseData | None,
) -> CaseResult:
    """init + drop + run in a fresh home; with a background loop running when concurrent."""
    result = CaseResult(data.name, mode, data.rows, data.columns)
    home = work / f"{data.name}-{mode}"
    logs = work / "logs" / f"{data.name}-{mode}"
    loop = "bench"

    def step(name: str, command: list[str], at: Path = home) -> Step:
        return measure([cli, "--home", str(at), *command], logs / name, args.timeout)

    background = None
    started = ended = 0.0
    other = home if args.background_home == "same" else work / f"{data.name}-{mode}-other"
    if background_data is not None:
        human = str(background_data.human)
        setup = step(
            "background-init",
            ["init", BACKGROUND_LOOP, "--human", human, *background_data.init_options],
            other,
        )
        if setup.status != "ok":
            raise SystemExit(f"background loop init failed: {setup.stderr_tail}")
        drop(background_data, other, BACKGROUND_LOOP)
        background = Background(
            lambda n: step(f"background-run-{n}", ["run", BACKGROUND_LOOP], other)
        )
        background.start()
        time.sleep(args.background_lead)
    result.init = step("init", ["init", loop, "--human", str(data.human), *data.init_options])
    if result.init.status == "ok":
        drop(data, home, loop)
        started = time.time()
        result.run = step("run", ["run", loop])
        ended = time.time()
    if background is not None:
        result.background = background.stop()
    failed = [s for s in (result.init, result.run, *result.background) if s and s.status != "ok"]
    if failed:
        result.failure_causes = failure_causes(home)
        if other != home and result.background:
            result.failure_causes += "\n" + failure_causes(other)
    if result.run is not None:  # a run killed at --timeout shows how far it got
        result.stages = run_stages(home, loop, started, ended)
    run = result.run
    if run is not None and run.status == "ok" and "gap report" not in run.stdout_tail:
        run.status = "no gap report"
    return result


def judge(result: CaseResult, sdmetrics_seconds: float | None) -> None:
    """Fill in the issue's target for this row and whether it was met."""
    total, peak = result.total, result.peak_mib
    checks: list[tuple[str, bool | None]] = []
    if result.case == "small":
        limit = 30 if result.mode == "alone" else 45
        checks.append((f"total < {limit} s", None if total is None else total < limit))
    elif result.mode == "alone" and result.case == "1m":  # the issue: drop both files and run
        run = result.run.seconds if result.run is not None else None
        if sdmetrics_seconds is None:
            checks.append(("run < SDMetrics (not run)", None))
        else:
            checks.append(
                (
                    f"run < SDMetrics {sdmetrics_seconds:.0f} s",
                    None if run is None else run < sdmetrics_seconds,
                )
            )
        checks.append(("peak < 2 GB", None if peak is None else peak * 2**20 < 2 * GB))
    elif result.mode == "alone" and result.case == "10m":
        checks.append(("total < 120 s", None if total is None else total < 120))
        checks.append(("peak < 2 GB", None if peak is None else peak * 2**20 < 2 * GB))
    elif result.mode == "alone" and result.case == "wide":
        checks.append(("total < 120 s", None if total is None else total < 120))
    result.target = ", ".join(name for name, _ in checks) or "-"
    if result.run is None or result.run.status != "ok":
        result.verdict = (result.run or result.init or Step(0, None, "?")).status
    elif not checks:
        result.verdict = "-"
    elif any(ok is False for _, ok in checks):
        result.verdict = "MISSED"
    else:
        result.verdict = "ok" if all(ok for _, ok in checks) else "?"


def sdmetrics_timing(python: str, data: CaseData, work: Path, timeout: float) -> dict[str, Any]:
    """QualityReport.generate on the case's files, in the sdmetrics environment."""
    script = HERE / "sdmetrics_quality.py"
    step = measure(
        [python, str(script), str(data.human), str(data.synthetic)],
        work / "logs" / "sdmetrics",
        timeout,
    )
    figures: dict[str, Any] = {"status": step.status, "process_seconds": round(step.seconds, 2)}
    figures["peak_mib"] = step.peak_mib
    if step.status == "ok":
        figures |= json.loads(step.stdout_tail.splitlines()[-1])
    else:
        figures["stderr"] = step.stderr_tail
    return figures


# ---------------------------------------------------------------- output


def _seconds(step: Step | None) -> str:
    if step is None:
        return "-"
    return f"{step.seconds:.1f}" if step.status == "ok" else step.status.split(" ")[0]


def _cpu(step: Step | None) -> str:
    return "-" if step is None or step.cpu_seconds is None else f"{step.cpu_seconds:.1f}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def print_table(results: list[CaseResult], memory_method: str) -> None:
    """The table, then the stages and the background runs of each row."""
    header = (
        f"{'case':6s} {'mode':10s} {'rows/side':>10s} {'cols':>5s} {'init s':>7s} "
        f"{'run s':>7s} {'run CPU':>7s} {'total s':>8s} {'init MiB':>9s} {'run MiB':>8s}  "
        f"{'target':34s} result"
    )
    print(f"peak memory: {memory_method}")
    print(header)
    print("-" * len(header))
    for r in results:
        total = "-" if r.total is None else f"{r.total:.1f}"
        print(
            f"{r.case:6s} {r.mode:10s} {r.rows:>10,d} {r.columns:>5d} {_seconds(r.init):>7s} "
            f"{_seconds(r.run):>7s} {_cpu(r.run):>7s} {total:>8s} "
            f"{_mib(r.init and r.init.peak_mib):>9s} {_mib(r.run and r.run.peak_mib):>8s}  "
            f"{r.target:34s} {r.verdict}"
        )
    for r in results:
        if r.stages:
            stages = ", ".join(f"{k} {v:.1f}" for k, v in r.stages.items())
            print(f"{r.case} {r.mode}: run stages (s): {stages}")
        if r.background:
            runs = ", ".join(f"{s.seconds:.1f} s {s.status}" for s in r.background)
            print(f"{r.case} {r.mode}: background loop runs: {runs}")
        for name, step in (
            ("init", r.init),
            ("run", r.run),
            *(("background", s) for s in r.background),
        ):
            if step is not None and step.status != "ok":
                print(f"{r.case} {r.mode}: {name} {step.status}:\n{step.stderr_tail}")
        if r.failure_causes:
            print(f"{r.case} {r.mode}: causes from the Dagster event log:\n{r.failure_causes}")


def main() -> None:
    """Generate or reuse the data, run every case and mode, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=CASES, help="repeatable; default all")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--alone", action="store_true", help="only the row without a second run")
    modes.add_argument("--concurrent", action="store_true", help="only the row with one")
    parser.add_argument("--scale", type=float, default=1.0, help="row factor for 1m, 10m, wide")
    parser.add_argument("--data-dir", type=Path, default=Path("build/bench-data"))
    parser.add_argument("--timeout", type=float, default=900, help="seconds per step")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--sdmetrics-python", help="an interpreter with sdmetrics and pandas<3")
    parser.add_argument(
        "--background-home",
        choices=["same", "separate"],
        default="same",
        help="the concurrent loop's home (default: the measured loop's)",
    )
    parser.add_argument(
        "--background-lead", type=float, default=2.0, help="seconds the second run starts ahead"
    )
    parser.add_argument("--work-dir", type=Path, help="keep the homes and logs here")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the steps get killed too
    cases = args.case or CASES
    modes_wanted = ["alone"] if args.alone else ["concurrent"] if args.concurrent else None
    modes_wanted = modes_wanted or ["alone", "concurrent"]
    cli = shutil.which("validation-loop", path=str(Path(sys.executable).parent)) or shutil.which(
        "validation-loop"
    )
    if cli is None:
        raise SystemExit("no validation-loop command next to this Python or on PATH")
    memory_method = (
        "max RSS from /usr/bin/time -v (largest process of each step's tree)"
        if GNU_TIME.exists()
        else "max RSS from getrusage(RUSAGE_CHILDREN) (largest process of each step's tree)"
    )
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="loop-bench-"))
    results: list[CaseResult] = []
    sdmetrics: dict[str, Any] | None = None
    try:
        background_data = small_data(args.data_dir) if "concurrent" in modes_wanted else None
        for name in cases:
            started = time.perf_counter()
            data = case_data(name, args.data_dir, args.scale)
            print(
                f"{name}: {data.rows:,d} rows x {data.columns} columns per side in "
                f"{data.human.parent} (ready in {time.perf_counter() - started:.1f} s)",
                flush=True,
            )
            if name == "1m" and args.sdmetrics_python:
                sdmetrics = sdmetrics_timing(args.sdmetrics_python, data, work_dir, args.timeout)
                print(f"1m: SDMetrics QualityReport: {sdmetrics}", flush=True)
            for mode in modes_wanted:
                other = background_data if mode == "concurrent" else None
                result = run_case(data, mode, args, cli, work_dir, other)
                ok = sdmetrics is not None and sdmetrics["status"] == "ok"
                judge(result, sdmetrics["seconds"] if ok else None)
                print(
                    f"{name} {mode}: init {_seconds(result.init)} s, run {_seconds(result.run)} s"
                    f" (run CPU {_cpu(result.run)} s)",
                    flush=True,
                )
                results.append(result)
    finally:
        kill_live()
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    print()
    print_table(results, memory_method)
    if sdmetrics is not None:
        version, load = sdmetrics.get("sdmetrics", "?"), sdmetrics.get("load_seconds", "?")
        print(
            f"SDMetrics {version} QualityReport.generate on the 1m files: "
            f"{sdmetrics.get('seconds', sdmetrics['status'])} s (+ {load} s to read them), "
            f"peak {_mib(sdmetrics['peak_mib'])} MiB, score {sdmetrics.get('score')}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "memory": memory_method,
            "cores": os.cpu_count(),
            "scale": args.scale,
            "background_home": args.background_home,
            "results": [asdict(r) | {"total": r.total, "peak_mib": r.peak_mib} for r in results],
            "sdmetrics": sdmetrics,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
