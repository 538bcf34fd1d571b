"""The code location loads from workspace.yaml the way `dagster dev` loads it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from validation_loop.defs.build import build_definitions
from validation_loop.home import Home

ROOT = Path(__file__).resolve().parents[2]


def test_every_loop_gets_assets_jobs_and_a_sensor(home, spec) -> None:
    other = Home(home.root)
    (other.loops_dir / "second").mkdir(parents=True)
    (other.loops_dir / "second" / "loop.yaml").write_text(
        spec.to_yaml().replace("name: churn", "name: second")
    )
    defs = build_definitions(other)
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert {"churn_ingest_batch", "churn_compare_batches", "second_ingest_batch"} <= jobs
    assert defs.resolve_sensor_def("second_landing_sensor") is not None
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {
        f"{loop}/{asset}"
        for loop in ("churn", "second")
        for asset in (
            "batches",
            "inventory",
            "gaps",
            "gap_report",
            "generator_config",
            "accepted_config",
            "reference_batch",
            "alerts",
        )
    }
    for name in ("second_alert_sensor", "second_run_failure_alerts"):
        assert defs.resolve_sensor_def(name) is not None
    assert defs.resolve_schedule_def("second_scheduled_report").cron_schedule == "0 6 * * *"
    assert {"churn_accept_config", "churn_generate_batch"} <= jobs


def test_workspace_yaml_loads(home, spec, tmp_path) -> None:
    env = {
        **os.environ,
        "VALIDATION_LOOP_HOME": str(home.root),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "definitions",
            "validate",
            "-w",
            str(ROOT / "workspace.yaml"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "All code locations passed validation" in done.stderr + done.stdout
