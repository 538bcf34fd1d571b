"""The gap report: its JSON shape, its rows in DuckDB, its files, and history across versions."""

from __future__ import annotations

import json

from validation_loop.report.build import REPORT_SCHEMA
from validation_loop.report.store import latest_report
from validation_loop.warehouse import Warehouse

KEYS = {
    "schema",
    "loop",
    "report_id",
    "created_at",
    "generator_version",
    "human_batches",
    "synthetic_batches",
    "human_rows",
    "synthetic_rows",
    "score",
    "gaps",
    "metrics",
    "recommendations",
}
RECORD_KEYS = {
    "kind",
    "metric",
    "columns",
    "slice",
    "value",
    "threshold",
    "p_value",
    "q_value",
    "severity",
    "message",
}


def test_report_has_the_documented_shape(demo_run) -> None:
    report = latest_report(demo_run["home"], "adult")
    assert report is not None
    assert set(report) >= KEYS and report["schema"] == REPORT_SCHEMA
    assert report["human_rows"] == 6000 and report["synthetic_rows"] == 6000
    assert len(report["human_batches"]) == 2 and len(report["synthetic_batches"]) == 1
    assert 0 <= report["score"] <= 1
    assert all(set(r) == RECORD_KEYS for r in report["metrics"])
    assert report["gaps"] == [r for r in report["metrics"] if r["severity"] != "info"]
    for rec in report["recommendations"]:
        assert rec["automated"] == bool(rec["changes"])
        assert rec["gaps"] and rec["note"]
    assert len(report["history"]) == len(demo_run["rounds"])
    assert [h["score"] for h in report["history"]] == [r.score for r in demo_run["rounds"]]


def test_every_report_is_kept_in_duckdb_and_as_files(demo_run) -> None:
    home = demo_run["home"]
    with Warehouse(home.warehouse_path).read() as con:
        reports = con.execute(
            "SELECT report_id, generator_version, score, human_batches, synthetic_batches, "
            "document FROM gap_reports WHERE loop = 'adult' ORDER BY created_at"
        ).fetchall()
        per_report = dict(
            con.execute(
                "SELECT report_id, count(*) FROM report_records GROUP BY report_id"
            ).fetchall()
        )
    assert len(reports) == len(demo_run["rounds"])
    for report_id, version, score, human, synthetic, document in reports:
        data = json.loads(document)
        assert per_report[report_id] == len(data["metrics"])
        assert (version, score) == (data["generator_version"], data["score"])
        assert (human, synthetic) == (data["human_batches"], data["synthetic_batches"])
        for suffix in ("json", "md", "html"):
            assert (home.reports_dir("adult") / f"{report_id}.{suffix}").is_file()
        on_disk = json.loads((home.reports_dir("adult") / f"{report_id}.json").read_text())
        assert on_disk == data


def test_history_compares_versions_for_collapse(demo_run) -> None:
    report = latest_report(demo_run["home"], "adult")
    collapse = [r for r in report["metrics"] if r["kind"] == "collapse"]
    assert collapse, "diversity and coverage series across versions are compared"
    rounds = [r.version for r in demo_run["rounds"]]
    for record in collapse:
        versions = record["slice"]["versions"]  # from the peak version on
        assert len(versions) >= 2 and versions[-1] == report["generator_version"]
        assert (
            versions
            == rounds[rounds.index(versions[0]) : len(versions) + rounds.index(versions[0])]
        )
        assert record["metric"].endswith("_drop")


def test_freshness_findings(demo_run) -> None:
    from datetime import UTC, datetime, timedelta

    from validation_loop.report.build import build_report
    from validation_loop.spec import load_spec

    home = demo_run["home"]
    spec = load_spec(home.loop("adult").spec_path)
    now = build_report(home, spec)
    fresh = {r["metric"]: r for r in now["metrics"] if r["kind"] == "freshness"}
    assert fresh["days_since_human_batch"]["severity"] == "info"
    assert fresh["current_version_batches"]["value"] >= 1
    later = build_report(home, spec, now=datetime.now(UTC) + timedelta(days=45))
    stale = next(g for g in later["gaps"] if g["metric"] == "days_since_human_batch")
    assert stale["severity"] == "warn" and stale["threshold"] == 30
    assert stale["value"] > 44 and "collect fresh human labels" in stale["message"]
