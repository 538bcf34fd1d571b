"""Crash trials: run `validation-loop` commands in forked children, kill them with SIGKILL at
chosen points, and check what they leave behind.

A zygote (`python -m validation_loop_tests.crash`, driven over stdin/stdout) imports the loop
once and forks a child per command, so a trial costs the command's work, not seconds of imports.
A child watches the file-system events of its command under the home and the Dagster home
(files opened for writing, renames, links, removals, SQLite connections: a Python audit hook sees
each before it happens). Asked to die before the n-th event of a kind, it sends itself SIGKILL
there: the kill point is chosen, and the same every time. Asked to die after a delay instead,
the zygote sends the SIGKILL from outside, which also lands inside DuckDB's own work (no audit
event there).

`Scenario` builds a small loop in a template home (models off, feedback in `auto` mode, a human
batch stored, generator config v0001, nothing in landing). A trial copies the template and runs
steps: each drops new files into landing (a human batch and a file to reject for `ingest`, a
synthetic batch with planted gaps for `run`) and runs its command until its kill; after each
kill the home is checked (`check_home`). Then `run` goes to the end, and what it leaves is
compared with one clean `run` on all the steps' files (`snapshot`, `compare`). `test_crash.py`
runs 20 kills; `benchmarks/crash_trials.py` hundreds.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import yaml

LOOP = "tiny"
ROWS = 240
KILL_EXIT = -signal.SIGKILL
# The trials' Dagster instance: no telemetry, and no capture of each step's output to files
# (Dagster's own logs, not the loop's; capturing them costs a sixth of a small run).
DAGSTER_YAML = """\
telemetry:
  enabled: false
compute_logs:
  module: dagster._core.storage.noop_compute_log_manager
  class: NoOpComputeLogManager
"""
_WATCHED = ("open", "os.rename", "os.link", "os.remove", "sqlite3.connect")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


# --- the zygote and its children -----------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One command for the zygote: argv, environment, where its output and events go, and when
    it dies (`kill_before`: just before the `occurrence`-th event of that kind; `kill_after`:
    after so many seconds; neither: it runs to the end)."""

    argv: list[str]
    env: dict[str, str]
    roots: dict[str, str]
    output: str
    events: str
    kill_before: str | None = None
    occurrence: int = 1
    kill_after: float | None = None


@dataclass(frozen=True)
class Result:
    """How a command ended: its exit code (`KILL_EXIT` when killed), its seconds, the events it
    saw (kinds, in order) and, when killed, where: `before <event>` (a chosen point) or
    `after <event>` (a delay; the last event it saw)."""

    code: int
    seconds: float
    events: list[str]
    kill_point: str | None


def event_kind(event: str, args: tuple[Any, ...], roots: dict[str, str]) -> str | None:
    """`<event>:<root>/<path>` for a file-system event under one of `roots` (name -> folder),
    with ids, hashes and numbers in the path replaced by `*`; None for any other event
    (reads, files elsewhere)."""
    if event not in _WATCHED or not args:
        return None
    if event == "open":
        path, mode, flags = args[0], args[1], args[2]
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else flags & _WRITE_FLAGS
        if not writes:
            return None
    else:
        path = args[1] if event in ("os.rename", "os.link") else args[0]
    if not isinstance(path, str | bytes | os.PathLike):
        return None
    full = os.path.abspath(os.fsdecode(path))
    for name, root in roots.items():
        if full == root or full.startswith(root + os.sep):
            relative = f"{name}/{os.path.relpath(full, root)}"
            relative = re.sub(r"/static/.*", "/static/*", relative)  # GX's site assets
            relative = re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "<run>", relative)
            relative = re.sub(r"[0-9a-f]{6,}|\d+", "*", relative)
            return f"{event.removeprefix('os.').removesuffix('.connect')}:{relative}"
    return None


def _child(request: Request) -> int:
    """Run one command in this (forked) process, watching and maybe killing it."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    output = os.open(request.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(output, 1)
    os.dup2(output, 2)
    log = os.open(request.events, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    os.environ.update(request.env)
    target = itertools.count(1)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        kind = event_kind(event, args, request.roots)
        if kind is None:
            return
        if kind == request.kill_before and next(target) == request.occurrence:
            os.write(log, f"KILL {kind}\n".encode())
            os.kill(os.getpid(), signal.SIGKILL)
        os.write(log, f"{kind}\n".encode())

    sys.addaudithook(hook)
    from validation_loop.cli import main

    code = main(request.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def _fork(request: Request) -> dict[str, Any]:
    """Fork a child for `request`, kill it when asked, wait for it; its code and seconds."""
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            code = _child(request)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    if request.kill_after is None:
        _, status = os.waitpid(pid, 0)
    else:
        deadline = started + request.kill_after
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() >= deadline:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.002)
    return {"code": os.waitstatus_to_exitcode(status), "seconds": time.monotonic() - started}


def serve() -> None:
    """The zygote: import the loop, then run each request read from stdin (one JSON object a
    line) in a forked child and answer with one JSON line."""
    import validation_loop.cli
    import validation_loop.defs.runs
    import validation_loop.gaps.compute
    import validation_loop.quality.validation
    import validation_loop.report.build  # noqa: F401 (imported once, for every child)

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        print(json.dumps(_fork(Request(**json.loads(line)))), flush=True)


class Zygote:
    """A running zygote process (a context manager)."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "validation_loop_tests.crash"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._answer()

    def _answer(self) -> dict[str, Any]:
        """The zygote's next answer."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the zygote ended (exit {self.process.wait()})")
        return json.loads(line)

    def run(self, request: Request) -> Result:
        """Run one command; its result, with the events its child logged."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(asdict(request)) + "\n")
        self.process.stdin.flush()
        answer = self._answer()
        logged = Path(request.events).read_text().splitlines()
        events = [line.removeprefix("KILL ") for line in logged]
        point = None
        if logged and logged[-1].startswith("KILL "):
            point = f"before {events[-1]}"
        elif answer["code"] == KILL_EXIT:
            point = f"after {events[-1] if events else 'its start'}"
        return Result(answer["code"], answer["seconds"], events, point)

    def close(self) -> None:
        """End the zygote (it ends when its input does)."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the scenario --------------------------------------------------------------------------


def _human_rows(seed: int, start: int, rows: int = ROWS) -> pd.DataFrame:
    """Human rows (seeded): an id, an age, a region and the label."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"c{start + i}" for i in range(rows)],
            "age": rng.normal(40, 10, rows).round(1),
            "region": rng.choice(["north", "south", "east"], rows),
            "churned": rng.choice(["yes", "no"], rows, p=[0.3, 0.7]),
        }
    )


def _flawed_synthetic(seed: int) -> pd.DataFrame:
    """Synthetic rows with planted gaps: ages 15 years older, no `east`, no `yes` label."""
    frame = _human_rows(seed, 0).drop(columns="customer_id")
    frame["age"] = frame["age"] + 15
    frame["region"] = frame["region"].replace("east", "north")
    frame["churned"] = "no"
    return frame


@dataclass
class TrialHome:
    """A trial's folder: the home, its Dagster home and the commands' logs."""

    root: Path

    @property
    def home(self) -> Path:
        """The validation_loop home."""
        return self.root / "home"

    @property
    def dagster(self) -> Path:
        """The Dagster home."""
        return self.root / "dagster"

    @property
    def loop(self) -> Path:
        """The loop's folder."""
        return self.home / "loops" / LOOP

    def landing(self, source: str) -> Path:
        """A landing folder."""
        return self.loop / "landing" / source

    def request(self, argv: list[str], tag: str, **kill: Any) -> Request:
        """A request to run `validation-loop argv` on this home."""
        env = {
            "VALIDATION_LOOP_HOME": str(self.home),
            "DAGSTER_HOME": str(self.dagster),
            "VALIDATION_LOOP_THREADS": "1",
            "VALIDATION_LOOP_LOCK_TIMEOUT": "60",
        }
        roots = {"home": str(self.home.resolve()), "dagster": str(self.dagster.resolve())}
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        return Request(
            argv, env, roots, str(logs / f"{tag}.out"), str(logs / f"{tag}.events"), **kill
        )

    def drop(self, step: int, command: str) -> None:
        """Put step `step`'s new files in landing: for `ingest` a human batch and a file to
        reject, for `run` a synthetic batch with planted gaps (its sidecar names v0001). The
        same step gives the same bytes every time; later steps' files are newer."""
        if command == "ingest":
            files = {
                self.landing("human") / f"human_{step}.csv": _human_rows(step, ROWS * (step + 1)),
                self.landing("human") / f"bad_{step}.csv": _human_rows(step, 0, 5).assign(age="x"),
            }
        else:
            files = {
                self.landing("synthetic") / f"synthetic_{step}.parquet": _flawed_synthetic(step)
            }
        stamp = 1_700_000_000 + 10 * step
        for offset, (path, frame) in enumerate(files.items()):
            if path.suffix == ".parquet":
                frame.to_parquet(path, index=False)
                sidecar = path.with_name(path.name + ".meta.json")
                sidecar.write_text('{"generator_version": "v0001"}\n')
            else:
                frame.to_csv(path, index=False)
            os.utime(path, (stamp + offset, stamp + offset))  # landing order: by step


@dataclass(frozen=True)
class Kill:
    """Where to kill a command: just before the `occurrence`-th event of kind `before`, or
    after `after` seconds (neither: not at all)."""

    command: str
    before: str | None = None
    occurrence: int = 1
    after: float | None = None


@dataclass(frozen=True)
class Step:
    """One killed command of a trial: where it was killed, what it left and what state the
    home was in."""

    kill: Kill
    kill_point: str | None
    code: int
    problems: list[str]
    state: str

    @property
    def killed(self) -> bool:
        """Whether the kill landed (a point past the command's end lets it finish)."""
        return self.code == KILL_EXIT


@dataclass(frozen=True)
class Trial:
    """Commands killed one after the other on one home, then a `run` to the end: each kill's
    step, the final run's exit code, what was wrong after it and how it differs from a clean
    run."""

    steps: list[Step]
    final_code: int
    problems: list[str]
    differences: list[str]
    seconds: float

    @property
    def lost(self) -> bool:
        """Whether anything went wrong: a problem after a kill or at the end, an error exit, a
        difference from the clean run."""
        return bool(
            self.problems
            or self.differences
            or any(s.problems or s.code not in (KILL_EXIT, 0, 2) for s in self.steps)
        )


class Scenario:
    """The template home, clean reference runs and trials (see the module doc). A trial is a
    list of kills; step j drops its own new files into landing and runs its command, killed.
    Every step has at least the work of a clean run of its command on the template (its own
    files; earlier steps may leave more), so a kill point drawn from that clean run's events
    lands. The final `run` must leave what one clean `run` leaves with all the steps' files.
    That holds when the batches are validated in the same order (a batch is held to the suite
    the human batches before it made): so `ingest` steps come before `run` steps, and take
    the human files in landing oldest first."""

    def __init__(self, zygote: Zygote, root: Path) -> None:
        self.root = root
        self.template = TrialHome(root / "template")
        self._build_template(zygote)
        self.events: dict[str, list[str]] = {}
        self.seconds: dict[str, float] = {}
        self._references: dict[tuple[str, ...], Snapshot] = {}

    def _run(
        self, zygote: Zygote, home: TrialHome, argv: list[str], tag: str, **kill: Any
    ) -> Result:
        """Run `validation-loop argv` on `home`."""
        return zygote.run(home.request(argv, tag, **kill))

    def _step(self, zygote: Zygote, home: TrialHome, step: int, kill: Kill, tag: str) -> Result:
        """Drop step `step`'s files, then run its command (killed as `kill` says): `run`, or
        `ingest` of every human file in landing, oldest first (the files an earlier kill left,
        then the new ones), as `run` would take them."""
        from validation_loop.home import Home
        from validation_loop.landing import landing_files

        home.drop(step, kill.command)
        argv = ["run", LOOP]
        if kill.command == "ingest":
            waiting = landing_files(Home(home.home).loop(LOOP))
            files = [str(f.path) for f in waiting if f.source == "human"]
            argv = ["ingest", LOOP, "--source", "human", *files]
        return self._run(
            zygote,
            home,
            argv,
            tag,
            kill_before=kill.before,
            occurrence=kill.occurrence,
            kill_after=kill.after,
        )

    def _cli(self, zygote: Zygote, argv: list[str], tag: str) -> None:
        """A setup step on the template that must succeed."""
        result = self._run(zygote, self.template, argv, tag)
        if result.code != 0:
            raise RuntimeError(f"{argv} exited {result.code}: {_output(self.template, tag)}")

    def _build_template(self, zygote: Zygote) -> None:
        """Loop `tiny` with a stored human batch and generator config v0001 (models off,
        feedback in auto mode); nothing in landing."""
        home = self.template
        home.dagster.mkdir(parents=True)
        (home.dagster / "dagster.yaml").write_text(DAGSTER_YAML)
        first = home.root / "first.csv"
        _human_rows(1000, 0).to_csv(first, index=False)
        init = ["init", LOOP, "--human", str(first), "--label", "churned", "--id", "customer_id"]
        self._cli(zygote, init, "init")
        spec_path = home.loop / "loop.yaml"
        spec = yaml.safe_load(spec_path.read_text())
        spec["models"]["enabled"] = False
        spec["feedback"]["mode"] = "auto"
        spec["feedback"]["rows"] = ROWS
        spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
        self._cli(zygote, ["ingest", LOOP, "--source", "human", str(first)], "ingest")
        self._cli(zygote, ["generate", LOOP, "--rows", "50"], "generate")
        for generated in home.landing("synthetic").iterdir():
            generated.unlink()

    def _copy(self, name: str) -> TrialHome:
        """A fresh copy of the template."""
        home = TrialHome(self.root / name)
        shutil.rmtree(home.root, ignore_errors=True)
        shutil.copytree(self.template.root, home.root, symlinks=True)
        shutil.rmtree(home.root / "logs", ignore_errors=True)
        return home

    def measure(self, zygote: Zygote, command: str) -> None:
        """Run one clean step of `command` on a copy: its events and seconds."""
        home = self._copy(f"measure-{command}")
        result = self._step(zygote, home, 0, Kill(command), "clean")
        if result.code != 2:  # a bad file rejected (ingest), or the exit of a clean run
            problem = check_home(home) or _output(home, "clean")
            if command == "ingest" or result.code != 0:
                raise RuntimeError(f"clean {command} exited {result.code}: {problem}")
        self.events[command] = result.events
        self.seconds[command] = result.seconds
        shutil.rmtree(home.root)

    def reference(self, zygote: Zygote, commands: tuple[str, ...]) -> Snapshot:
        """What one clean `run` leaves with the files of steps running `commands`."""
        if commands not in self._references:
            home = self._copy(f"reference-{'-'.join(commands)}")
            for step, command in enumerate(commands):
                home.drop(step, command)
            result = self._run(zygote, home, ["run", LOOP], "clean")
            if result.code not in (0, 2) or check_home(home):
                raise RuntimeError(f"the clean run exited {result.code}: {_output(home, 'clean')}")
            self._references[commands] = snapshot(home)
            shutil.rmtree(home.root)
        return self._references[commands]

    def spread(self, command: str, count: int, rng: random.Random) -> list[Kill]:
        """`count` kill points of `command` spread over its clean run (`measure` first), in a
        random order: its kinds of events, in the order they first happen, are cut into `count`
        equal stretches; from each a kind is drawn, then one of that kind's occurrences. A
        point names a kind and an occurrence rather than a position, so it means the same
        step of the work in a command that has more to do (files an earlier kill left)."""
        events = self.events[command]
        kinds = list(dict.fromkeys(events))
        bounds = [round(i * len(kinds) / count) for i in range(count + 1)]
        kills = []
        for low, high in itertools.pairwise(bounds):
            kind = kinds[rng.randrange(low, max(low + 1, high))]
            kills.append(Kill(command, kind, rng.randint(1, events.count(kind))))
        rng.shuffle(kills)
        return kills

    def random_kill(self, command: str, rng: random.Random, by_kind: bool = False) -> Kill:
        """A kill point drawn uniformly from the events of a clean run of `command` (most of
        them Dagster's), or `by_kind`: a kind of event drawn uniformly, then one of its
        occurrences (the loop's own writes as often as Dagster's)."""
        events = self.events[command]
        if by_kind:
            kind = rng.choice(list(dict.fromkeys(events)))
            return Kill(command, kind, rng.randint(1, events.count(kind)))
        index = rng.randrange(len(events))
        return Kill(command, events[index], events[: index + 1].count(events[index]))

    def random_delay(self, command: str, rng: random.Random) -> Kill:
        """A kill after a delay drawn uniformly from the length of a clean run of `command`."""
        return Kill(command, after=rng.uniform(0, self.seconds[command]))

    def trial(self, zygote: Zygote, kills: list[Kill], name: str) -> Trial:
        """Run the steps of `kills` on a copy of the template, checking the home after each
        kill, then `run` to the end and compare with the clean run on the same files (which
        `reference` must have made)."""
        started = time.monotonic()
        home = self._copy(name)
        steps = []
        for index, kill in enumerate(kills):
            result = self._step(zygote, home, index, kill, f"step-{index}")
            problems = check_home(home)
            steps.append(Step(kill, result.kill_point, result.code, problems, progress(home)))
        final = self._run(zygote, home, ["run", LOOP], "final")
        problems, differences = [], [f"the final run exited {final.code}"]
        if final.code in (0, 2):
            problems = check_home(home)
            expected = self._references[tuple(k.command for k in kills)]
            differences = compare(expected, snapshot(home))
        trial = Trial(steps, final.code, problems, differences, time.monotonic() - started)
        if not trial.lost:
            shutil.rmtree(home.root)
        return trial


def _output(home: TrialHome, tag: str) -> str:
    """What a command printed."""
    return (home.root / "logs" / f"{tag}.out").read_text(errors="replace")


# --- what a home must look like after a crash ----------------------------------------------


def _sha(path: Path) -> str:
    """A file's SHA-256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _visible(folder: Path) -> list[Path]:
    """Files under `folder`, without the hidden temporary files of atomic writes."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[Any]:
    """A query's rows."""
    return con.execute(sql, params or []).fetchall()


def check_home(home: TrialHome) -> list[str]:
    """Everything wrong with a home right after a crash: a batch not wholly there, a
    rejection without its file, a file half written, a finished step whose landing file is
    gone before the steps after it ran. Empty when all is well."""
    warehouse = home.home / "warehouse.duckdb"
    if not warehouse.exists():
        return []
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        return [f"the warehouse does not open: {exc}"]
    try:
        problems = _check_warehouse(con, home)
    finally:
        con.close()
    return problems + _check_files(home)


def progress(home: TrialHome) -> str:
    """Where a killed command had got to, as counts: batches stored, validated, archived;
    rejections and files in quarantine; comparisons, reports, generator versions, and files
    still in landing."""
    con = duckdb.connect(str(home.home / "warehouse.duckdb"), read_only=True)
    try:
        counts = _rows(
            con,
            "SELECT (SELECT count(*) FROM batches), "
            "(SELECT count(DISTINCT batch_id) FROM expectation_results), "
            "(SELECT count(*) FROM rejections), "
            "(SELECT count(DISTINCT comparison_id) FROM gap_records), "
            "(SELECT count(*) FROM gap_reports)",
        )[0]
    finally:
        con.close()
    stored, validated, rejected, comparisons, reports = counts
    files = {name: len(_visible(home.loop / name)) for name in ("archive", "quarantine", "landing")}
    versions = len(list((home.loop / "generator").glob("v*.yaml")))
    return (
        f"stored={stored} validated={validated} archived={files['archive']} "
        f"rejected={rejected} quarantined={files['quarantine']} comparisons={comparisons} "
        f"reports={reports} versions={versions} landing={files['landing']}"
    )


def _landing_shas(home: TrialHome) -> set[str]:
    """The contents waiting in landing."""
    return {_sha(p) for p in _visible(home.loop / "landing") if not p.name.endswith(".json")}


def _check_warehouse(con: duckdb.DuckDBPyConnection, home: TrialHome) -> list[str]:
    """The warehouse's half of `check_home`."""
    problems = []
    waiting = _landing_shas(home)
    tables = {
        t
        for (t,) in _rows(
            con, "SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [LOOP]
        )
    }
    stored = _rows(
        con, "SELECT batch_id, source, row_count, sha256 FROM batches WHERE loop = ?", [LOOP]
    )
    for batch_id, source, row_count, sha in stored:
        (count,) = _rows(
            con, f"SELECT count(*) FROM {LOOP}.{source} WHERE _batch_id = ?", [batch_id]
        )[0]
        if count != row_count:
            problems.append(f"batch {batch_id}: {count} rows stored, {row_count} in batches")
        archived = home.loop / "archive" / source / batch_id
        results = _rows(
            con, "SELECT count(*) FROM expectation_results WHERE batch_id = ?", [batch_id]
        )
        finished = results[0][0] > 0 and _visible(archived)
        if not finished and sha not in waiting:
            problems.append(f"batch {batch_id}: not validated and archived, and gone from landing")
    known = {b[0] for b in stored}
    for source in ("human", "synthetic"):
        if source in tables:
            for (batch_id,) in _rows(con, f"SELECT DISTINCT _batch_id FROM {LOOP}.{source}"):
                if batch_id not in known:
                    problems.append(f"rows of batch {batch_id} without its batches row")
    for archived_file in _visible(home.loop / "archive"):
        if archived_file.parent.name not in known:
            problems.append(f"{archived_file}: archived, but its batch is not stored")
    for name, sha, quarantined in _rows(
        con, "SELECT file_name, sha256, quarantined_as FROM rejections WHERE loop = ?", [LOOP]
    ):
        path = Path(quarantined)
        error = path.with_name(path.name + ".error.json")
        if not path.is_file() or _sha(path) != sha:
            problems.append(f"rejection of {name}: {path} is missing or differs")
        elif not error.is_file() or json.loads(error.read_text())["sha256"] != sha:
            problems.append(f"rejection of {name}: {error} is missing or wrong")
    rejected = {Path(q).name for (q,) in _rows(con, "SELECT quarantined_as FROM rejections")}
    for path in _visible(home.loop / "quarantine"):
        if path.name.endswith(".json") or path.name in rejected:
            continue
        if _sha(path) not in waiting:
            problems.append(f"{path}: quarantined without a rejection, and gone from landing")
    for report_id, document in _rows(con, "SELECT report_id, document FROM gap_reports"):
        (count,) = _rows(
            con, "SELECT count(*) FROM report_records WHERE report_id = ?", [report_id]
        )[0]
        if count != len(json.loads(document)["metrics"]):
            problems.append(f"report {report_id}: {count} report_records rows")
    return problems


def _check_files(home: TrialHome) -> list[str]:
    """The files' half of `check_home`: every file the loop writes is whole."""
    from validation_loop.feedback.versions import current_version, list_versions, load_config
    from validation_loop.home import Home
    from validation_loop.render.report import report_html, report_markdown

    problems = []
    layout = Home(home.home).loop(LOOP)
    for path in _visible(home.home / "reports"):
        if path.suffix != ".json":
            continue
        try:
            report = json.loads(path.read_text())
        except json.JSONDecodeError:
            problems.append(f"{path}: not whole JSON")
            continue
        for suffix, render in ((".md", report_markdown), (".html", report_html)):
            sibling = path.with_suffix(suffix)
            if sibling.exists() and sibling.read_text() != render(report):
                problems.append(f"{sibling}: not the whole rendering of its report")
    for path in [*_visible(layout.quarantine), *_visible(layout.root / "gx")]:
        if path.suffix == ".json":
            try:
                json.loads(path.read_text())
            except json.JSONDecodeError:
                problems.append(f"{path}: not whole JSON")
        elif path.suffix == ".html" and not path.read_text().rstrip().endswith("</html>"):
            problems.append(f"{path}: not a whole HTML page")
    gx_yml = layout.root / "gx" / "great_expectations.yml"
    if gx_yml.exists() and "config_version" not in (yaml.safe_load(gx_yml.read_text()) or {}):
        problems.append(f"{gx_yml}: not a whole GX project config")
    suite = layout.root / "expectations.json"
    try:
        json.loads(suite.read_text()) if suite.exists() else None
    except json.JSONDecodeError:
        problems.append(f"{suite}: not whole JSON")
    try:
        versions = list_versions(layout)
        for version in versions:
            load_config(layout, version)
        current = current_version(layout)
        log = layout.generator / "accepted.jsonl"
        logged = [json.loads(line)["version"] for line in log.read_text().splitlines()]
        if current not in versions or not set(logged) <= set(versions):
            problems.append(f"generator: current {current}, logged {logged}, files {versions}")
    except Exception as exc:
        problems.append(f"generator: {type(exc).__name__}: {exc}")
    return problems


# --- a home's outcome, to compare with a clean run -----------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What a run leaves that a crash must not change: batches, rejections, the latest gap
    records, the latest report's figures (its score and the severities of its records but
    freshness), configs, the suite, validations and the folders."""

    batches: list[tuple[Any, ...]]
    rejections: list[tuple[Any, ...]]
    comparison: tuple[Any, ...]
    gaps: list[tuple[Any, ...]]
    report: tuple[Any, ...]
    generator: tuple[Any, ...]
    suite: Any
    validations: dict[str, list[tuple[str, bool]]]
    folders: dict[str, list[str]] = field(default_factory=dict)


def snapshot(home: TrialHome) -> Snapshot:
    """The outcome of the runs on `home` (see `Snapshot`)."""
    from validation_loop.feedback.versions import current_version, list_versions
    from validation_loop.home import Home

    layout = Home(home.home).loop(LOOP)
    con = duckdb.connect(str(home.home / "warehouse.duckdb"), read_only=True)
    try:
        stored: Counter[str] = Counter()
        for (table,) in _rows(
            con, "SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [LOOP]
        ):
            if table in ("human", "synthetic"):
                stored.update(
                    dict(_rows(con, f"SELECT _batch_id, count(*) FROM {LOOP}.{table} GROUP BY 1"))
                )
        batches = sorted(
            (*row, stored[row[0]])
            for row in _rows(
                con,
                "SELECT batch_id, source, file_name, row_count, format, generator_version "
                "FROM batches WHERE loop = ?",
                [LOOP],
            )
        )
        rejections = sorted(
            _rows(
                con,
                "SELECT file_name, source, sha256, kind, message, column_name, "
                "row_number, line_number FROM rejections WHERE loop = ?",
                [LOOP],
            )
        )
        latest = "(SELECT comparison_id FROM gap_records ORDER BY computed_at DESC LIMIT 1)"
        comparison = _rows(
            con,
            "SELECT DISTINCT generator_version, list_sort(human_batches), "
            f"list_sort(synthetic_batches) FROM gap_records WHERE comparison_id = {latest}",
        )
        gaps = sorted(
            tuple(_round(v) for v in row)
            for row in _rows(
                con,
                "SELECT kind, metric, columns, slice, value, threshold, p_value, q_value, "
                f"severity, message FROM gap_records WHERE comparison_id = {latest}",
            )
        )
        newest = "(SELECT report_id FROM gap_reports ORDER BY created_at DESC LIMIT 1)"
        report = _rows(  # freshness findings depend on the time and the config, not the data
            con,
            "SELECT generator_version, score, human_rows, synthetic_rows, (SELECT "
            "list(severity ORDER BY severity) FROM report_records WHERE report_id = r.report_id "
            f"AND kind <> 'freshness') FROM gap_reports r WHERE report_id = {newest}",
        )
        validations: dict[str, list[tuple[str, bool]]] = {}
        for batch_id, check, success in _rows(
            con,
            "SELECT batch_id, check_name, success FROM expectation_results r WHERE "
            "validated_at = (SELECT max(validated_at) FROM expectation_results "
            "WHERE batch_id = r.batch_id) ORDER BY batch_id, position",
        ):
            validations.setdefault(batch_id, []).append((check, success))
    finally:
        con.close()
    folders = {
        name: [str(p.relative_to(layout.root)) for p in _visible(layout.root / name)]
        for name in ("landing", "archive", "quarantine")
    }
    return Snapshot(
        batches=batches,
        rejections=rejections,
        comparison=tuple(comparison),
        gaps=gaps,
        report=tuple(_round(v) for v in report[0]) if report else (),
        generator=(list_versions(layout), current_version(layout)),
        suite=json.loads((layout.root / "expectations.json").read_text()),
        validations=validations,
        folders=folders,
    )


def _round(value: Any) -> Any:
    """Floats to 9 significant digits (the last bits may differ between runs)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.9g}")
    return value


def compare(expected: Snapshot, actual: Snapshot) -> list[str]:
    """How `actual` differs from `expected`, field by field."""
    return [
        f"{name}: expected {getattr(expected, name)!r}, got {getattr(actual, name)!r}"
        for name in Snapshot.__dataclass_fields__
        if getattr(expected, name) != getattr(actual, name)
    ]


def summary(trials: list[Trial]) -> dict[str, Any]:
    """Counts over trials: kills, the kinds of kill points hit, and trials that lost something."""
    steps = [step for trial in trials for step in trial.steps]
    kinds = Counter(f"{s.kill.command} {s.kill_point}" for s in steps if s.killed)
    return {
        "trials": len(trials),
        "kills": sum(s.killed for s in steps),
        "kill_point_kinds": len(kinds),
        "states": len({(s.kill.command, s.state) for s in steps if s.killed}),
        "by_kind": kinds,
        "lost": sum(t.lost for t in trials),
    }


if __name__ == "__main__":
    serve()
