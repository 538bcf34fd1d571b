"""The `validation-loop` command, in-process and as real concurrent processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from validation_loop.cli import main
from validation_loop.warehouse import Warehouse, list_batches
from validation_loop_tests.conftest import ROWS


@pytest.fixture
def env(home, tmp_path, monkeypatch):
    """A home and a Dagster instance of the test's own."""
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("VALIDATION_LOOP_HOME", str(home.root))
    return {**os.environ}


@pytest.mark.parametrize("command", ["init", "ingest", "run", "report", "demo", "ui"])
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
    assert main(["run", "churn"]) == 0
    out = capsys.readouterr().out
    assert "3 landing file(s): 2 new, 0 already ingested, 1 rejected" in out
    assert (
        "1 human batch(es), 3 rows; 1 synthetic batch(es), 2 rows; 1 file(s) in quarantine" in out
    )
    assert list(layout.landing("human").iterdir()) == []

    assert main(["report", "churn", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["schema"] == "validation-loop/inventory/v1"
    assert (report["human_rows"], report["synthetic_rows"]) == (3, 2)
    assert report["rejected_files"][0]["file_name"] == "broken.parquet"

    assert main(["report", "churn", "--format", "markdown"]) == 0
    assert "## Rejected files" in capsys.readouterr().out
    target = tmp_path / "out" / "report.html"
    assert main(["report", "churn", "--format", "html", "--output", str(target)]) == 0
    assert "<h2>Rejected files</h2>" in target.read_text()


def test_two_ingest_processes_at_once(env, spec, home, write_batch) -> None:
    files = []
    for index in range(2):
        rows = [dict(ROWS[0], customer_id=f"{index}-{i}") for i in range(5000)]
        files.append(write_batch(f"part{index}.csv", rows))
    command = [sys.executable, "-m", "validation_loop.cli", "ingest", "churn", "--source", "human"]
    procs = [
        subprocess.Popen(
            [*command, str(f)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for f in files
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    with Warehouse(home.warehouse_path).read() as con:
        assert len(list_batches(con, "churn")) == 2
        assert con.execute("SELECT count(*) FROM churn.human").fetchone() == (10000,)


def test_demo_command_end_to_end(env, home) -> None:
    command = [sys.executable, "-m", "validation_loop.cli", "demo"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "3 landing file(s): 3 new" in first.stdout
    assert "2 human batch(es), 6000 rows; 1 synthetic batch(es), 8000 rows" in first.stdout
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "3 landing file(s): 0 new, 3 already ingested, 0 rejected" in second.stdout
