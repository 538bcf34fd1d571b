"""The `validation-loop` command, in-process and as real concurrent processes."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from validation_loop.cli import build_parser, main
from validation_loop.locks import file_lock
from validation_loop.spec import parse_spec, save_spec
from validation_loop.warehouse import Warehouse, list_batches
from validation_loop_tests.conftest import ROWS, SPEC


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser by name, read from the real parser (new ones count at once)."""
    (group,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(group.choices)


LOOP_COMMANDS = [
    name
    for name, sub in _subcommands().items()
    if any(action.dest == "name" for action in sub._actions)
]


@pytest.fixture
def env(env):
    """The shared home and Dagster instance (conftest's `env`), as an environment for children."""
    return {**os.environ}


@pytest.mark.parametrize("command", list(_subcommands()))
def test_every_command_has_help_with_example(command, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main([command, "--help"])
    assert caught.value.code == 0
    assert "example:\n  validation-loop " + command in capsys.readouterr().out


def test_init_writes_spec_and_refuses_to_overwrite(env, home, write_batch, capsys) -> None:
    path = write_batch("first.csv")
    args = [
        "init",
        "churn",
        "--human",
        str(path),
        "--label",
        "churned",
        "--id",
        "customer_id",
        "--slice",
        "region",
        "--sensitive",
        "region",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "age: numeric" in out and "active: boolean" in out and "signup: datetime" in out
    assert (home.loop("churn").landing("human")).is_dir()
    assert main(args) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


def test_init_with_unknown_column_exits_2(env, write_batch, capsys) -> None:
    assert main(["init", "churn", "--human", str(write_batch("f.csv")), "--label", "nope"]) == 2
    assert "column 'nope' is not in the file" in capsys.readouterr().err


def _argv_with_loop_name(command: str, name: str, file: Path) -> list[str]:
    """A command line `command` accepts: `name` as the loop, `file` (or the first choice) for
    every other positional and required option."""
    argv = [command]
    for action in _subcommands()[command]._actions:
        if action.dest == "name":
            argv.append(name)
        elif not action.option_strings and action.nargs != "?":
            argv.append(str(file))
        elif action.required:
            value = str(action.choices[0]) if action.choices else str(file)
            argv += [action.option_strings[0], value]
    return argv


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` with its bytes (None for a folder)."""
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("command", LOOP_COMMANDS)
def test_a_loop_name_that_leaves_the_home_is_refused_first(
    command, env, home, tmp_path, write_batch, capsys
) -> None:
    """`../../outside` leads from `<home>/loops/` to a real loop planted beside the home."""
    save_spec(parse_spec({**SPEC, "name": "outside"}, "test"), tmp_path / "outside" / "loop.yaml")
    argv = _argv_with_loop_name(command, "../../outside", write_batch("f.csv"))
    before = _tree(tmp_path)
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "error: invalid loop name '../../outside': a loop name is a lower-case letter followed "
        "by up to 62 lower-case letters, digits or underscores (e.g. churn_v2)\n"
    )
    assert _tree(tmp_path) == before
    assert not home.root.exists()


def test_unknown_loop_says_how_to_create_it(env, capsys) -> None:
    assert main(["run", "ghost"]) == 2
    assert "validation-loop init ghost" in capsys.readouterr().err


def test_ingest_good_and_bad_files(env, spec, home, write_batch, capsys) -> None:
    good = write_batch("good.csv")
    bad = write_batch("bad.csv", [dict(ROWS[0], age="n/a?")])
    synthetic = write_batch("gen.parquet", ROWS[:2])
    assert main(["ingest", "churn", "--source", "human", str(bad), str(good)]) == 2
    captured = capsys.readouterr()
    assert "ingested good.csv as human-" in captured.out
    assert "rejected bad.csv: column 'age', row 1: value 'n/a?' is not numeric" in captured.err
    assert "1 file(s) rejected" in captured.err
    assert (
        main(
            [
                "ingest",
                "churn",
                "--source",
                "synthetic",
                str(synthetic),
                "--generator-version",
                "v9",
            ]
        )
        == 0
    )
    assert "generator v9" in capsys.readouterr().out
    assert main(["ingest", "churn", "--source", "human", str(good)]) == 0
    assert "already ingested good.csv" in capsys.readouterr().out


def test_run_ingests_landing_and_reports(env, spec, home, write_batch, capsys, tmp_path) -> None:
    layout = home.loop("churn")
    write_batch("a.csv", folder=layout.landing("human"))
    write_batch("b.jsonl", ROWS[:2], folder=layout.landing("synthetic"))
    (layout.landing("synthetic") / "broken.parquet").write_bytes(b"PAR1 not really")
    assert main(["run", "churn"]) == 2
    captured = capsys.readouterr()
    out = captured.out
    assert "rejected broken.parquet: " in captured.err
    assert f"1 file(s) rejected; kept in {layout.quarantine}" in captured.err
    assert (layout.quarantine / "broken.parquet").is_file()
    assert "3 landing file(s): 2 new, 0 already ingested, 1 rejected" in out
    assert (
        "1 human batch(es), 3 rows; 1 synthetic batch(es), 2 rows; 1 file(s) in quarantine" in out
    )
    assert list(layout.landing("human").iterdir()) == []

    assert "gap report " in out and "score " in out
    assert main(["run", "churn"]) == 0  # the rejected file is in quarantine, not found again
    capsys.readouterr()

    assert main(["report", "churn", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["schema"] == "validation-loop/gap-report/v1"
    assert (report["human_rows"], report["synthetic_rows"]) == (3, 2)

    assert main(["report", "churn", "--format", "markdown"]) == 0
    assert "## Top gaps" in capsys.readouterr().out
    target = tmp_path / "out" / "report.html"
    assert main(["report", "churn", "--format", "html", "--output", str(target)]) == 0
    assert "<h2>Gaps by severity</h2>" in target.read_text()


def test_report_before_any_comparison_says_what_to_do(env, spec, capsys) -> None:
    assert main(["report", "churn"]) == 2
    assert "validation-loop run churn" in capsys.readouterr().err


def test_report_json_is_exactly_the_stored_report(env, demo_copy, capsys) -> None:
    from validation_loop.report.store import latest_report

    assert main(["--home", str(demo_copy.root), "report", "adult", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == latest_report(demo_copy, "adult")
    assert captured.err == ""


def _draw(prefix: str, seed: int, age_shift: float = 0.0, rows: int = 300) -> pd.DataFrame:
    """A `churn` batch drawn at random; two seeds give two samples of one distribution."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"{prefix}{i}" for i in range(rows)],
            "age": rng.normal(40 + age_shift, 10, rows).round(3),
            "region": rng.choice(["north", "south", "east"], rows),
            "active": rng.choice(["yes", "no"], rows),
            "signup": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 86400 * 90, rows), unit="s"),
            "churned": np.where(rng.random(rows) < 0.3, "yes", "no"),
        }
    )


def test_run_exit_codes_for_a_clean_batch_a_planted_gap_and_a_rejected_file(
    env, spec, home, capsys
) -> None:
    """0 for a synthetic batch from the human batch's distribution, 3 once a batch with age
    shifted by three standard deviations joins it, 2 when a landing file is rejected (before 3)."""
    spec.models.enabled = False  # the model checks have tests of their own; keep this one quick
    save_spec(spec, home.loop("churn").spec_path)
    layout = home.loop("churn")
    _draw("h", seed=1).to_csv(layout.landing("human") / "human.csv", index=False)
    _draw("s", seed=2).to_csv(layout.landing("synthetic") / "clean.csv", index=False)
    assert main(["run", "churn", "--fail-on", "warn"]) == 0

    _draw("p", seed=3, age_shift=30).to_csv(layout.landing("synthetic") / "shift.csv", index=False)
    assert main(["run", "churn", "--fail-on", "error"]) == 3
    assert "failing: gaps at error or worse" in capsys.readouterr().err

    (layout.landing("synthetic") / "broken.parquet").write_bytes(b"PAR1 not really")
    assert main(["run", "churn", "--fail-on", "error"]) == 2
    err = capsys.readouterr().err
    assert "failing: gaps at error or worse" in err and "rejected broken.parquet: " in err


def test_generate_and_accept(env, demo_copy, capsys) -> None:
    from validation_loop.feedback.versions import accept, current_version, proposals

    home = ["--home", str(demo_copy.root)]
    layout = demo_copy.loop("adult")
    for version in proposals(layout):
        accept(layout, version)
    assert main([*home, "accept", "adult"]) == 2
    assert "no proposed generator config waiting" in capsys.readouterr().err
    assert main([*home, "generate", "adult", "--rows", "300"]) == 0
    out = capsys.readouterr().out
    assert f"(300 rows, generator {current_version(layout)})" in out
    (written,) = layout.landing("synthetic").glob("*.parquet")
    assert written.with_name(written.name + ".meta.json").is_file()
    assert main([*home, "accept", "adult", "v0001"]) == 0
    assert current_version(layout) == "v0001"
    next_lines = _next_lines(capsys.readouterr().out)  # two commands, two lines
    assert [_pasted(line) for line in next_lines] == [
        [*home, "generate", "adult"],
        [*home, "run", "adult"],
    ]
    assert main([*home, "accept", "adult", "v9999"]) == 2
    assert "no such generator version" in capsys.readouterr().err


def _stderr_until(process: subprocess.Popen[str], text: str) -> None:
    """Read the process's stderr up to a line containing `text`; fail if it ends first."""
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        if text in line:
            return
        seen.append(line)
    pytest.fail(f"exit {process.wait()} before {text!r}: {''.join(seen)}")


def test_two_ingest_processes_held_at_the_warehouse_lock(env, spec, home, write_batch) -> None:
    """The test holds the warehouse lock until both commands say they wait for it; released,
    both ingest their file."""
    files = []
    for index in range(2):
        rows = [dict(ROWS[0], customer_id=f"{index}-{i}") for i in range(5000)]
        files.append(write_batch(f"part{index}.csv", rows))
    command = [sys.executable, "-m", "validation_loop.cli", "ingest", "churn", "--source", "human"]
    lock = Warehouse(home.warehouse_path).lock_path
    procs: list[subprocess.Popen[str]] = []
    try:
        with file_lock(lock, exclusive=True, timeout=60, holder="test"):
            for file in files:
                procs.append(
                    subprocess.Popen(
                        [*command, str(file)],
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                )
            for proc in procs:
                _stderr_until(proc, f"{home.warehouse_path}: locked by another process; waiting")
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [p.returncode for p in procs] == [0, 0], outputs
    with Warehouse(home.warehouse_path).read() as con:
        assert len(list_batches(con, "churn")) == 2
        assert con.execute("SELECT count(*) FROM churn.human").fetchone() == (10000,)


def test_demo_command_end_to_end(env, home) -> None:
    from validation_loop.demo import setup_demo
    from validation_loop.spec import load_spec

    spec = load_spec(setup_demo(home).spec_path)
    spec.models.enabled = False  # the model checks have tests of their own; keep this one quick
    save_spec(spec, home.loop("adult").spec_path)
    command = [sys.executable, "-m", "validation_loop.cli", "demo", "--rounds", "2"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[1].startswith("round 1: generator v0001  score ")
    assert lines[2].startswith("round 2: generator v0002  score ")
    final = next(line for line in lines if line.startswith("final report: "))
    assert Path(final.removeprefix("final report: ")).is_file()
    again = subprocess.run(
        [*command[:-1], "1"], env=env, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr
    assert "round 1: generator v0002" in again.stdout or "round 1: generator v0003" in again.stdout


def test_alerts_test_message_and_listing(env, spec, home, http_server, monkeypatch, capsys) -> None:
    from validation_loop_tests.servers import free_port, with_alerts

    with_alerts(
        home,
        spec,
        routes=[
            {"name": "team", "type": "slack", "url_env": "TEAM_HOOK"},
            {"name": "gone", "type": "teams", "url_env": "GONE_HOOK"},
        ],
        attempts=1,
    )
    monkeypatch.setenv("TEAM_HOOK", http_server.url)
    monkeypatch.setenv("GONE_HOOK", f"http://127.0.0.1:{free_port()}/x")
    assert main(["alerts", "churn"]) == 0
    assert "no alerts yet (2 route(s) configured)" in capsys.readouterr().out
    assert main(["alerts", "churn", "--test"]) == 1
    out = capsys.readouterr().out
    assert "team: delivered" in out and "gone: FAILED: route gone: connection refused" in out
    assert "test message" in http_server.json()["text"]
    assert main(["alerts", "churn"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert len(listing) == 2
    assert any("-> team: sent after 1 attempt(s)" in line for line in listing)
    assert any(
        "-> gone: failed after 1 attempt(s) (route gone: connection refused)" in line
        for line in listing
    )


def test_freshness_is_a_finding_before_anything_is_compared(env, spec, home, write_batch, capsys):
    from validation_loop.feedback.versions import save_config
    from validation_loop.report.store import latest_report
    from validation_loop_tests.feedback.test_versions import _config

    layout = home.loop("churn")
    write_batch("a.csv", folder=layout.landing("human"))
    save_config(layout, _config("v0001"))  # a current generator config without any batch
    assert main(["run", "churn", "--fail-on", "warn"]) == 3
    report = latest_report(home, "churn")
    assert report["comparison_id"] is None and report["synthetic_batches"] == []
    (gap,) = report["gaps"]
    assert (gap["kind"], gap["metric"], gap["severity"]) == (
        "freshness",
        "current_version_batches",
        "warn",
    )
    assert report["recommendations"][0]["action"] == "review"
    assert main(["run", "churn", "--fail-on", "error"]) == 0


def test_cli_runs_that_fail_alert_once(env, spec, home, write_batch, http_server, monkeypatch):
    from validation_loop.alerts.dispatch import recent_deliveries
    from validation_loop_tests.servers import with_alerts

    with_alerts(home, spec, routes=[{"name": "team", "type": "slack", "url_env": "TEAM_HOOK"}])
    monkeypatch.setenv("TEAM_HOOK", http_server.url)
    bad = write_batch(
        "bad.csv", [dict(ROWS[0], age="old")], folder=home.loop("churn").landing("human")
    )
    assert bad.exists()
    assert main(["run", "churn"]) == 2
    assert len(http_server.requests) == 1
    assert "run of churn_ingest_batch failed" in http_server.json()["text"]
    assert "bad.csv: column 'age', row 1" in http_server.json()["blocks"][1]["text"]["text"]
    (row,) = recent_deliveries(home, "churn")
    assert (row["event"], row["status"]) == ("run_failure", "sent")


class FitRaises(ClassifierMixin, BaseEstimator):
    """A user's task model whose fit always fails, as scikit-learn's do on too few members."""

    def fit(self, features, labels) -> FitRaises:
        raise ValueError("The least populated classes in y have only 1 member")

    def predict(self, features):
        raise NotImplementedError


def test_a_failing_step_shows_its_error(env, spec, home, write_batch, capsys) -> None:
    spec.models.estimator = f"{__name__}:FitRaises"
    save_spec(spec, home.loop("churn").spec_path)
    layout = home.loop("churn")
    rows = [
        dict(ROWS[0], customer_id=f"c{i}", age=20 + i, churned="yes" if i % 3 else "no")
        for i in range(60)
    ]
    write_batch("human.csv", rows, folder=layout.landing("human"))
    write_batch("synthetic.csv", rows[::-1], folder=layout.landing("synthetic"))
    assert main(["run", "churn"]) == 1
    err = capsys.readouterr().err
    assert (
        "error: churn_compare_batches failed: ValueError: The least populated classes in y "
        "have only 1 member (in step churn__gaps)"
    ) in err


def test_a_300_column_table_runs_end_to_end(env, home, tmp_path, capsys) -> None:
    """init, drop both files in landing, run: every step through Dagster, as a user does."""
    rng = np.random.default_rng(0)
    rows, width = 400, 300

    def table(shift: float) -> pd.DataFrame:
        values = rng.normal(size=(rows, width))
        values[:, 0] += shift
        frame = pd.DataFrame(values, columns=[f"x{i:03d}" for i in range(width)])
        frame["site"] = rng.choice(["a", "b", "c"], size=rows)
        frame["label"] = np.where(values[:, 1] + rng.normal(size=rows) > 0, "yes", "no")
        return frame

    human, synthetic = tmp_path / "human.parquet", tmp_path / "synthetic.parquet"
    table(0.0).to_parquet(human)
    table(1.0).to_parquet(synthetic)
    init = ["init", "wide", "--human", str(human), "--label", "label", "--slice", "site"]
    assert main(init) == 0
    layout = home.loop("wide")
    for source, path in (("human", human), ("synthetic", synthetic)):
        (layout.landing(source) / path.name).write_bytes(path.read_bytes())
    assert main(["run", "wide"]) == 0
    assert "2 new" in capsys.readouterr().out
    report = json.loads(next(home.reports_dir("wide").glob("*.json")).read_text())
    metrics = {(r["metric"], tuple(r["columns"])): r for r in report["metrics"]}
    assert metrics[("ks", ("x000",))]["severity"] == "error"  # the planted shift
    (tested,) = [r for r in report["metrics"] if r["metric"] == "pairs_tested"]
    assert "2,000 of 45,451" in tested["message"]
    assert any(r["kind"] == "detection" for r in report["metrics"])


def test_values_changed_at_ingest_are_shown_in_the_report(env, spec, home, capsys) -> None:
    """Three non-finite ages in the synthetic batch: kept as missing, and the report says so."""
    spec.models.enabled = False
    save_spec(spec, home.loop("churn").spec_path)
    layout = home.loop("churn")
    _draw("h", seed=1).to_csv(layout.landing("human") / "human.csv", index=False)
    synthetic = _draw("s", seed=2).astype({"age": "object"})
    synthetic.loc[[4, 9, 11], "age"] = ["NaN", "inf", "-inf"]
    synthetic.to_csv(layout.landing("synthetic") / "odd.csv", index=False)
    assert main(["run", "churn"]) == 0
    expected = (  # the first odd value is in the fifth data row
        "column 'age': 3 NaN, infinite or out-of-range value(s) stored as missing (first at row 5)"
    )
    assert f"  warning: {expected}" in capsys.readouterr().out
    assert main(["report", "churn", "--format", "markdown"]) == 0
    quality = capsys.readouterr().out.split("Quality of the compared batches", 1)[1]
    rows = [line for line in quality.splitlines() if line.startswith("| synthetic-")]
    assert len(rows) == 1 and expected in rows[0]


# A file name a shell would expand, split, redirect or read as an option if it were not quoted.
SHELL_HOSTILE = "-rf $(touch pwned) `touch pwned`; 'it's' > out | cat.csv"


def _pasted(line: str) -> list[str]:
    """The arguments a POSIX shell gives `validation-loop` when a `next:` line is pasted: the
    line runs in `sh` with a stand-in that prints its argv. Checked against `shlex.split`."""
    command = line.removeprefix("next: ")
    program, _, rest = command.partition(" ")
    assert program == "validation-loop", line
    stand_in = f'"$0" -c "import json, sys; print(json.dumps(sys.argv[1:]))" {rest}'
    shell = subprocess.run(
        ["sh", "-c", stand_in, sys.executable], capture_output=True, text=True, check=True
    )
    argv = json.loads(shell.stdout)
    assert argv == shlex.split(command)[1:]
    return argv


def _next_lines(out: str) -> list[str]:
    """The `next:` lines of a command's output; none joins commands with a pipe or `&&`."""
    lines = [line for line in out.splitlines() if line.startswith("next: ")]
    assert not [line for line in lines if {"|", "&&", ";"} & set(shlex.split(line))], lines
    return lines


def test_the_init_hint_is_safe_to_paste(env, home, tmp_path, monkeypatch, capsys) -> None:
    """A human file whose name starts with a dash and holds shell syntax: the `next:` line,
    pasted into `sh`, runs nothing else and ingests exactly that file in the same home."""
    monkeypatch.chdir(tmp_path)
    pd.DataFrame(ROWS).to_csv(tmp_path / SHELL_HOSTILE, index=False)
    init = ["--home", str(home.root), "init", "churn", f"--human={SHELL_HOSTILE}"]
    assert main([*init, "--label", "churned"]) == 0
    (line,) = _next_lines(capsys.readouterr().out)
    argv = _pasted(line)
    home_args = ["--home", str(home.root)]
    assert argv == [*home_args, "ingest", "churn", "--source", "human", "--", SHELL_HOSTILE]
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out").exists()
    assert main(argv) == 0
    assert f"ingested {SHELL_HOSTILE} as human-" in capsys.readouterr().out


def test_the_demo_hints_are_one_command_each(env, home, monkeypatch, capsys) -> None:
    """The demo's two suggestions (read the report, open the UI) are two `next:` lines, each one
    command for the demo's home, not one joined by a pipe."""
    from validation_loop import demo

    report = home.root / "reports" / "adult" / "r.html"
    monkeypatch.setattr(demo, "run_demo", lambda *args: [SimpleNamespace(report_html=report)])
    assert main(["--home", str(home.root), "demo", "--rounds", "1"]) == 0
    lines = _next_lines(capsys.readouterr().out)
    assert [_pasted(line) for line in lines] == [
        ["--home", str(home.root), "report", "adult"],
        ["--home", str(home.root), "ui"],
    ]


def test_names_from_files_cannot_forge_output_lines(env, home, tmp_path, capsys) -> None:
    """A column name with a line break and a cursor-moving escape sequence, a file name with a
    line break: `init` and `ingest` print each as part of one line, and print no escape."""
    forged = "x\nnext: rm -rf ~"
    erasing = "\x1b[1A\x1b[2Kwrote nothing"
    frame = pd.DataFrame({forged: [1.0, 2.0, 3.0], erasing: ["a", "b", "a"], "label": ["y"] * 3})
    path = tmp_path / "batch\nrejected other.parquet"
    frame.to_parquet(path)
    assert main(["init", "churn", "--human", str(path), "--label", "label"]) == 0
    assert main(["ingest", "churn", "--source", "human", str(path)]) == 0
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "\x1b" not in out
    lines = out.splitlines()
    assert "  x\\nnext: rm -rf ~: numeric" in lines
    assert "  \\u001b[1A\\u001b[2Kwrote nothing: categorical" in lines
    quoted = str(path).replace("\n", "\\n")  # in single quotes (a space), the break escaped
    assert [line for line in lines if line.startswith(("next:", "rejected"))] == [
        f"next: validation-loop ingest churn --source human -- '{quoted}'"
    ]
    assert any(
        line.startswith("ingested batch\\nrejected other.parquet as human-") for line in lines
    )


def test_run_counts_a_file_gone_before_it_was_read_as_skipped(
    env, spec, home, write_batch, monkeypatch, capsys
) -> None:
    """A landing file another run moves right after `run` lists the folder is skipped: counted
    as skipped, not as already ingested, and the exit code is the other file's."""
    from validation_loop import landing

    layout = home.loop("churn")
    gone = write_batch("gone.csv", ROWS[:2], folder=layout.landing("human"))
    write_batch("kept.csv", folder=layout.landing("human"))
    real = landing.landing_files

    def list_then_move(*args, **kwargs):
        found = real(*args, **kwargs)
        gone.unlink()
        return found

    monkeypatch.setattr(landing, "landing_files", list_then_move)
    assert main(["run", "churn"]) == 0
    captured = capsys.readouterr()
    assert "skipped gone.csv: no such file (moved or deleted before it could be read)" in (
        captured.err
    )
    assert (
        "loop churn: 2 landing file(s): 1 new, 0 already ingested, 0 rejected, 1 skipped "
        "(gone before they were read)"
    ) in captured.out
