"""Assemble a loop's gap report from its latest comparison, and keep it.

The report (schema `validation-loop/gap-report/v1`, README "Gap report") brings together the
latest comparison's gap and model gap records, the quality results of the batches compared,
collapse across generator versions, the score and its history, distributions of the gapped
columns, and recommendations with changes to the generator config that made the batches.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from validation_loop.feedback.generator import GeneratorConfig, fit_config, generated_columns
from validation_loop.feedback.mapping import plan
from validation_loop.feedback.versions import (
    config_path,
    current_version,
    is_version,
    load_config,
)
from validation_loop.gaps.collapse import COLLAPSE_METRICS, collapse_records, series_from_rows
from validation_loop.gaps.compute import KIND_ORDER
from validation_loop.gaps.records import SEVERITY_ORDER
from validation_loop.gaps.score import report_score, score_components
from validation_loop.gaps.selection import comparison_of, human_truth, seeded_sample
from validation_loop.gaps.store import latest_gaps, stored_record
from validation_loop.home import Home
from validation_loop.ingest import find_batch
from validation_loop.quality.labels import latest_label_quality
from validation_loop.quality.results import suite_summary
from validation_loop.report.distributions import distributions
from validation_loop.report.freshness import freshness_records
from validation_loop.report.store import (
    insert_report,
    score_history,
    version_history,
    write_files,
)
from validation_loop.spec import LoopSpec
from validation_loop.warehouse import Warehouse

REPORT_SCHEMA = "validation-loop/gap-report/v1"
PLOTTED_COLUMNS = 8
PLOTTED_KINDS = ("marginal", "coverage", "diversity", "collapse")


def _order(record: dict[str, Any]) -> tuple[int, int]:
    """Worst severity first, then the kind's place (most damaging kinds first)."""
    kinds = [*KIND_ORDER, "collapse", "freshness"]
    return (-SEVERITY_ORDER[record["severity"]], kinds.index(record["kind"]))


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """Rows of a relation."""
    row = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()
    return int(row[0]) if row else 0


def _plotted_columns(records: list[dict[str, Any]], spec: LoopSpec) -> list[str]:
    """The columns of the worst single-column gaps, at most eight."""
    out: list[str] = []
    for record in records:
        if record["severity"] == "info" or record["kind"] not in PLOTTED_KINDS:
            continue
        for column in record["columns"]:
            if column in spec.columns and column not in out:
                out.append(column)
    bias = [
        c for r in records if r["kind"] == "bias" and r["severity"] != "info" for c in r["columns"]
    ]
    out += [c for c in dict.fromkeys(bias) if c not in out]
    return out[:PLOTTED_COLUMNS]


def _quality(con: duckdb.DuckDBPyConnection, spec: LoopSpec, batches: list[str]) -> dict[str, Any]:
    """The suite results of each batch, the values changed on the way in, the label quality."""
    return {
        "batches": [
            {"batch_id": b, **suite_summary(con, spec.name, b), "changed": _changed(con, spec, b)}
            for b in batches
        ],
        "label_quality": latest_label_quality(con, spec.name),
    }


def _changed(con: duckdb.DuckDBPyConnection, spec: LoopSpec, batch_id: str) -> list[str]:
    """What the loop changed in the batch's values on the way in, one line per column and kind."""
    record = find_batch(con, spec.name, batch_id)
    return [change.describe() for change in record.value_changes] if record else []


def _generator_config(home: Home, spec: LoopSpec, version: str | None) -> GeneratorConfig | None:
    """The reference generator config that made the compared batches, if the loop has one."""
    layout = home.loop(spec.name)
    if not is_version(version) or not config_path(layout, version).is_file():
        return None
    return load_config(layout, version)


def _counts(records: list[dict[str, Any]]) -> dict[str, int]:
    """Records per severity."""
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    for record in records:
        counts[record["severity"]] += 1
    return counts


@dataclass
class _Inputs:
    """What a report is assembled from, read under one warehouse read lock."""

    version: str | None
    comparison_id: str | None
    human_batches: list[str]
    synthetic_batches: list[str]
    human_rows: int
    synthetic_rows: int
    records: list[dict[str, Any]]
    quality: dict[str, Any]
    plots: dict[str, Any]
    human: pd.DataFrame
    scores: list[dict[str, Any]]


def _from_comparison(
    con: duckdb.DuckDBPyConnection, spec: LoopSpec, rows: list[dict[str, Any]]
) -> _Inputs:
    """The latest comparison's records plus collapse across versions, and what to plot."""
    first = rows[0]
    version = first["generator_version"]
    comparison = comparison_of(
        con, spec, list(first["human_batches"]), list(first["synthetic_batches"]), version
    )
    records = [stored_record(r) for r in rows]
    history_rows = version_history(con, spec.name, COLLAPSE_METRICS)
    current = [
        {**r, "generator_version": version or "(unversioned)"}
        for r in records
        if r["metric"] in COLLAPSE_METRICS and r["slice"] is None
    ]
    history_rows = [r for r in history_rows if r["generator_version"] != version] + current
    records += [
        r.to_dict() for r in collapse_records(series_from_rows(history_rows), spec.thresholds)
    ]
    return _Inputs(
        version=version,
        comparison_id=first["comparison_id"],
        human_batches=comparison.human_batches,
        synthetic_batches=comparison.synthetic_batches,
        human_rows=_count(con, comparison.human_sql),
        synthetic_rows=_count(con, comparison.synthetic_sql),
        records=records,
        quality=_quality(con, spec, comparison.human_batches + comparison.synthetic_batches),
        plots=distributions(con, spec, comparison, _plotted_columns(records, spec)),
        human=seeded_sample(con, spec, comparison.human_sql),
        scores=score_history(con, spec.name),
    )


def _before_comparison(
    con: duckdb.DuckDBPyConnection, spec: LoopSpec, version: str | None
) -> _Inputs:
    """Nothing compared yet: the human side only (the freshness records say what is missing)."""
    human_sql = human_truth(con, spec)
    batches = [
        str(r[0])
        for r in con.execute(
            "SELECT batch_id FROM batches WHERE loop = ? AND source = 'human' ORDER BY ingested_at",
            [spec.name],
        ).fetchall()
    ]
    return _Inputs(
        version=version,
        comparison_id=None,
        human_batches=batches,
        synthetic_batches=[],
        human_rows=_count(con, human_sql) if human_sql else 0,
        synthetic_rows=0,
        records=[],
        quality=_quality(con, spec, batches),
        plots={},
        human=pd.DataFrame(),
        scores=score_history(con, spec.name),
    )


def build_report(home: Home, spec: LoopSpec, now: datetime | None = None) -> dict[str, Any] | None:
    """The report of the loop's latest comparison; before the first comparison, a report of
    the freshness findings alone; None when the loop has no batch at all."""
    created = now or datetime.now(UTC)
    layout = home.loop(spec.name)
    with Warehouse(home.warehouse_path).read() as con:
        rows = latest_gaps(con, spec.name)
        fresh = freshness_records(con, spec, layout, created)
        if not rows and not fresh:
            return None
        inputs = (
            _from_comparison(con, spec, rows)
            if rows
            else _before_comparison(con, spec, current_version(layout))
        )
    records = sorted([*inputs.records, *fresh], key=_order)
    config = _generator_config(home, spec, inputs.version)
    target = None
    if generated_columns(spec) and not inputs.human.empty:
        rows_wanted = config.rows if config else spec.feedback.rows
        target = fit_config(inputs.human, spec, rows=rows_wanted)
    recommendations = plan(records, config, target)
    components = score_components(records)
    score = report_score(components)
    report_id = f"{created:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    counts = _counts(records)
    return {
        "schema": REPORT_SCHEMA,
        "loop": spec.name,
        "report_id": report_id,
        "created_at": created.isoformat(),
        "generator_version": inputs.version,
        "human_batches": inputs.human_batches,
        "synthetic_batches": inputs.synthetic_batches,
        "human_rows": inputs.human_rows,
        "synthetic_rows": inputs.synthetic_rows,
        "score": score,
        "score_components": components,
        "counts": counts,
        "comparison_id": inputs.comparison_id,
        "gaps": [r for r in records if r["severity"] != "info"],
        "metrics": records,
        "recommendations": [r.to_dict() for r in recommendations],
        "quality": inputs.quality,
        "history": [
            *inputs.scores,
            {
                "report_id": report_id,
                "created_at": created.isoformat(),
                "generator_version": inputs.version,
                "score": score,
                "errors": counts["error"],
                "warnings": counts["warn"],
            },
        ],
        "distributions": inputs.plots,
    }


def publish_report(home: Home, spec: LoopSpec) -> tuple[dict[str, Any], dict[str, Path]] | None:
    """Build the report, keep it in the warehouse and write its files."""
    report = build_report(home, spec)
    if report is None:
        return None
    paths = write_files(home, report)
    with Warehouse(home.warehouse_path).write() as con:
        insert_report(con, report)
    return report, paths
