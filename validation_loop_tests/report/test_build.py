"""The gap report, on a tiny loop whose every expected value is known by hand: what it compared,
its score, its gaps and their collapse across versions, its history, where it is kept, and
its freshness findings.

The loop `tiny` has 300 human rows. Generator version `gen-a` returns them unchanged (every
metric but the copy checks says "identical": score 1); version `gen-b` returns them plus their
first 100 rows again (a quarter of its rows are duplicates, a fall in diversity since `gen-a`).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from validation_loop.gaps.store import compare_loop
from validation_loop.home import Home
from validation_loop.ingest import BatchRecord, ingest_file
from validation_loop.quality.validation import validate_batch
from validation_loop.report.build import REPORT_SCHEMA, build_report, publish_report
from validation_loop.spec import LoopSpec, parse_spec, save_spec
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
    "score_components",
    "counts",
    "comparison_id",
    "gaps",
    "metrics",
    "recommendations",
    "quality",
    "history",
    "distributions",
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
# The generated suite of `tiny` (README "Expectations"): the column set; a type per column
# (3); x, g and y not null, as the human data has no null (3); the range of x; the values of
# g and of the label y (2 in-set).
SUITE_SIZE = 1 + 3 + 3 + 1 + 2
COPIES = {("privacy", "exact_copy_rate_excess"), ("privacy", "dcr_ratio")}
DUPLICATE_GAPS = {
    ("diversity", "duplicate_rate_excess"),
    ("diversity", "near_duplicate_rate_excess"),
    ("collapse", "duplicate_rate_excess_drop"),
    ("collapse", "near_duplicate_rate_excess_drop"),
}


def _ingest(
    home: Home, spec: LoopSpec, frame: pd.DataFrame, path: Path, version: str | None
) -> BatchRecord:
    """Write, ingest and validate one batch (validation makes it usable in comparisons)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    source = "human" if version is None else "synthetic"
    batch = ingest_file(home, spec, path, source, generator_version=version).batch
    validate_batch(home, spec, batch.batch_id)
    return batch


def _compare_and_publish(home: Home, spec: LoopSpec) -> tuple[str, dict[str, Any], dict]:
    """Compare the current sides, then publish the report: (comparison id, report, paths)."""
    outcome = compare_loop(home, spec)
    assert outcome is not None
    published = publish_report(home, spec)
    assert published is not None
    return outcome[2], *published


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny loop after one report on `gen-a` and one on `gen-b`."""
    root = tmp_path_factory.mktemp("tiny")
    home = Home(root / "home")
    spec = parse_spec(
        {
            "name": "tiny",
            "task": "classification",
            "label": "y",
            "columns": {"x": "numeric", "g": "categorical", "y": "categorical"},
            "models": {"enabled": False},
        },
        "test",
    )
    save_spec(spec, home.loop("tiny").spec_path)
    rng = np.random.default_rng(0)
    human = pd.DataFrame(
        {
            "x": rng.normal(50, 10, 300).round(3),
            "g": rng.choice(["a", "b", "c"], 300),
            "y": rng.choice(["no", "yes"], 300, p=[0.7, 0.3]),
        }
    )
    repeated = pd.concat([human, human.iloc[:100]], ignore_index=True)
    human_batch = _ingest(home, spec, human, root / "in" / "human.csv", None)
    a_batch = _ingest(home, spec, human, root / "in" / "a.csv", "gen-a")
    a_comparison, a, a_paths = _compare_and_publish(home, spec)
    b_batch = _ingest(home, spec, repeated, root / "in" / "b.csv", "gen-b")
    b_comparison, b, b_paths = _compare_and_publish(home, spec)
    return {
        "home": home,
        "spec": spec,
        "human": human,
        "repeated": repeated,
        "batches": {"human": human_batch, "gen-a": a_batch, "gen-b": b_batch},
        "comparisons": {"gen-a": a_comparison, "gen-b": b_comparison},
        "reports": {"gen-a": a, "gen-b": b},
        "paths": {"gen-a": a_paths, "gen-b": b_paths},
    }


def _gaps(report: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, metric) of each gap."""
    return {(g["kind"], g["metric"]) for g in report["gaps"]}


def test_report_names_what_it_compared(tiny: dict[str, Any]) -> None:
    report, batches = tiny["reports"]["gen-b"], tiny["batches"]
    assert set(report) == KEYS and report["schema"] == REPORT_SCHEMA
    assert (report["loop"], report["generator_version"]) == ("tiny", "gen-b")
    assert report["comparison_id"] == tiny["comparisons"]["gen-b"]
    assert (report["human_rows"], report["synthetic_rows"]) == (300, 400)
    assert report["human_batches"] == [batches["human"].batch_id]
    assert report["synthetic_batches"] == [batches["gen-b"].batch_id]  # the newest version's
    assert report["quality"]["batches"] == [
        {
            "batch_id": b.batch_id,
            "expectations": SUITE_SIZE,
            "failed_errors": 0,
            "failed_warnings": 0,
            "changed": [],  # clean files: nothing changed on the way in
        }
        for b in (batches["human"], batches["gen-b"])
    ]
    assert all(set(r) == RECORD_KEYS for r in report["metrics"])


def test_identical_data_scores_one_and_is_flagged_only_as_a_copy(tiny: dict[str, Any]) -> None:
    report = tiny["reports"]["gen-a"]
    assert report["score_components"] == {
        "column_shapes": 1.0,
        "column_pair_trends": 1.0,
        "coverage": 1.0,
        "diversity": 1.0,
    }
    assert report["score"] == 1.0
    assert _gaps(report) == COPIES and {g["severity"] for g in report["gaps"]} == {"error"}
    (dcr,) = [g for g in report["gaps"] if g["metric"] == "dcr_ratio"]
    assert dcr["value"] == 0.0  # most synthetic rows are human rows: distance 0
    assert report["counts"]["error"] == 2 and report["counts"]["warn"] == 0


def test_repeated_rows_are_a_duplicate_gap_and_a_collapse(tiny: dict[str, Any]) -> None:
    report, human, repeated = tiny["reports"]["gen-b"], tiny["human"], tiny["repeated"]
    excess = repeated.duplicated().mean() - human.duplicated().mean()
    assert excess == pytest.approx(0.25, abs=0.01)  # 100 of 400 rows, less chance repeats
    assert _gaps(report) == COPIES | DUPLICATE_GAPS
    assert report["counts"]["error"] == 6 and report["counts"]["warn"] == 0
    by_metric = {g["metric"]: g for g in report["gaps"]}
    duplicates = by_metric["duplicate_rate_excess"]
    assert duplicates["value"] == pytest.approx(excess, abs=1e-9)
    assert duplicates["severity"] == "error"  # above the 0.1 error threshold
    collapse = by_metric["duplicate_rate_excess_drop"]
    # 1 - max(0, excess) fell from 1 at gen-a (no excess) to 1 - excess at gen-b
    assert collapse["value"] == pytest.approx(excess, abs=1e-6)
    assert collapse["slice"] == {"versions": ["gen-a", "gen-b"]}
    assert collapse["severity"] == "error"  # a fall above the 0.2 error threshold
    assert report["score_components"]["diversity"] == pytest.approx(1 - excess, abs=1e-4)


def test_every_gap_lands_in_exactly_one_recommendation(tiny: dict[str, Any]) -> None:
    report = tiny["reports"]["gen-b"]
    recommended = [(g["kind"], g["metric"]) for r in report["recommendations"] for g in r["gaps"]]
    assert sorted(recommended) == sorted(COPIES | DUPLICATE_GAPS)
    # no reference generator config made gen-b: advice for a person, no config change
    assert all(not r["automated"] and r["changes"] == [] for r in report["recommendations"])


def test_history_lists_every_report_oldest_first(tiny: dict[str, Any]) -> None:
    a, b = tiny["reports"]["gen-a"], tiny["reports"]["gen-b"]
    third = build_report(tiny["home"], tiny["spec"])  # a third report on gen-b, not kept
    assert third is not None
    assert [
        (h["report_id"], h["generator_version"], h["errors"], h["warnings"])
        for h in third["history"]
    ] == [
        (a["report_id"], "gen-a", 2, 0),
        (b["report_id"], "gen-b", 6, 0),
        (third["report_id"], "gen-b", 6, 0),
    ]
    assert [h["score"] for h in third["history"]] == [1.0, b["score"], b["score"]]
    assert b["score"] < 1.0


def test_every_report_is_kept_in_duckdb_and_as_files(tiny: dict[str, Any]) -> None:
    home = tiny["home"]
    with Warehouse(home.warehouse_path).read() as con:
        rows = con.execute(
            "SELECT report_id, generator_version, score, errors, warnings, document "
            "FROM gap_reports WHERE loop = 'tiny' ORDER BY created_at"
        ).fetchall()
        records = dict(
            con.execute(
                "SELECT report_id, count(*) FROM report_records GROUP BY report_id"
            ).fetchall()
        )
    reports = [tiny["reports"]["gen-a"], tiny["reports"]["gen-b"]]
    assert [r[:5] for r in rows] == [
        (reports[0]["report_id"], "gen-a", 1.0, 2, 0),
        (reports[1]["report_id"], "gen-b", reports[1]["score"], 6, 0),
    ]
    for (report_id, *_, document), report, version in zip(
        rows, reports, ["gen-a", "gen-b"], strict=True
    ):
        assert json.loads(document) == report
        assert records[report_id] == len(report["metrics"])
        paths = tiny["paths"][version]
        assert paths == {
            suffix: home.reports_dir("tiny") / f"{report_id}.{suffix}"
            for suffix in ("json", "md", "html")
        }
        assert json.loads(paths["json"].read_text()) == report
        assert f"- **report**: {report_id} (" in paths["md"].read_text()
        assert f"{report_id}" in paths["html"].read_text()


def test_freshness_findings(tiny: dict[str, Any]) -> None:
    home, spec = tiny["home"], tiny["spec"]
    ingested = tiny["batches"]["human"].ingested_at

    def age_record(days: float) -> dict[str, Any]:
        report = build_report(home, spec, now=ingested + timedelta(days=days))
        assert report is not None
        (record,) = [r for r in report["metrics"] if r["metric"] == "days_since_human_batch"]
        return record

    fresh, stale = age_record(10), age_record(45)
    assert (fresh["value"], fresh["severity"], fresh["threshold"]) == (10.0, "info", 30)
    assert (stale["value"], stale["severity"], stale["threshold"]) == (45.0, "warn", 30)
    assert "45 days old, more than 30: collect fresh human labels" in stale["message"]
