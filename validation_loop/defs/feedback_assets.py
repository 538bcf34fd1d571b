"""Assets that close a loop: its gap report, the next generator config, accepting it, and a
reference-generator batch."""

from typing import Any

import dagster as dg
from pydantic import Field

from validation_loop.defs.resources import HomeResource
from validation_loop.errors import ValidationLoopError
from validation_loop.feedback.propose import propose_next
from validation_loop.feedback.reference import make_batch
from validation_loop.feedback.versions import accept, current_version, proposals
from validation_loop.gaps.compute import KIND_ORDER
from validation_loop.gaps.records import SEVERITY_ORDER
from validation_loop.render.markdown import code_block, table_markdown
from validation_loop.render.report import diff_lines, report_markdown
from validation_loop.render.tables import gaps_table
from validation_loop.report.build import publish_report
from validation_loop.report.store import latest_report

REPORT_KINDS = [*KIND_ORDER, "collapse", "freshness"]


def gap_report_key(loop: str) -> dg.AssetKey:
    """The asset key of a loop's gap report."""
    return dg.AssetKey([loop, "gap_report"])


def generator_config_key(loop: str) -> dg.AssetKey:
    """The asset key of a loop's next generator config (the feedback step)."""
    return dg.AssetKey([loop, "generator_config"])


def accepted_config_key(loop: str) -> dg.AssetKey:
    """The asset key that accepts a loop's proposed generator config."""
    return dg.AssetKey([loop, "accepted_config"])


def reference_batch_key(loop: str) -> dg.AssetKey:
    """The asset key of a loop's reference-generator batch."""
    return dg.AssetKey([loop, "reference_batch"])


def _kind_check(kind: str, records: list[dict[str, Any]] | None) -> dg.AssetCheckResult:
    """One gap kind: passes without warn or error gaps; the worst gap sets the severity."""
    name = f"{kind}_gaps"
    if records is None:
        return dg.AssetCheckResult(
            check_name=name, passed=True, metadata={"observed": "nothing compared yet"}
        )
    gaps = [r for r in records if r["kind"] == kind and r["severity"] != "info"]
    if not gaps:
        measured = sum(1 for r in records if r["kind"] == kind)
        return dg.AssetCheckResult(
            check_name=name, passed=True, metadata={"metrics": measured, "gaps": 0}
        )
    worst = max(gaps, key=lambda r: SEVERITY_ORDER[r["severity"]])
    return dg.AssetCheckResult(
        check_name=name,
        passed=False,
        severity=(
            dg.AssetCheckSeverity.ERROR
            if worst["severity"] == "error"
            else dg.AssetCheckSeverity.WARN
        ),
        metadata={
            "errors": sum(1 for r in gaps if r["severity"] == "error"),
            "warnings": sum(1 for r in gaps if r["severity"] == "warn"),
            "worst": worst["message"],
            "observed_value": float(worst["value"]) if worst["value"] is not None else -1.0,
            "threshold": float(worst["threshold"]) if worst["threshold"] is not None else -1.0,
            "columns": ", ".join(worst["columns"]),
        },
    )


def build_gap_report_asset(loop: str, after: dg.AssetKey) -> dg.AssetsDefinition:
    """The asset that assembles, stores and writes the loop's gap report."""
    key = gap_report_key(loop)

    @dg.asset(
        key=key,
        deps=[after],
        group_name=loop,
        kinds={"duckdb", "html"},
        check_specs=[
            dg.AssetCheckSpec(
                f"{kind}_gaps",
                asset=key,
                description=f"No {kind} gap at warn or error; severity follows the worst one.",
            )
            for kind in REPORT_KINDS
        ],
        description=(
            f"Loop `{loop}`'s gap report: quality results, gap and model gap records, collapse "
            "across generator versions, the score and its trend, and recommendations with "
            "config changes; kept in `gap_reports` / `report_records` and written to "
            f"reports/{loop}/REPORT_ID.json, .md and .html."
        ),
    )
    def gap_report(home: HomeResource) -> dg.MaterializeResult:
        published = publish_report(home.home(), home.spec(loop))
        if published is None:
            return dg.MaterializeResult(
                metadata={"status": "nothing compared yet: needs a human and a synthetic batch"},
                check_results=[_kind_check(kind, None) for kind in REPORT_KINDS],
            )
        report, paths = published
        counts = report["counts"]
        metadata: dict[str, Any] = {
            "report_id": report["report_id"],
            "generator_version": report["generator_version"] or "",
            "errors": counts["error"],
            "warnings": counts["warn"],
            "metrics": len(report["metrics"]),
            "recommendations": len(report["recommendations"]),
            "summary": dg.MetadataValue.md(report_markdown(report, limit=10)),
            "top_gaps": dg.MetadataValue.md(table_markdown(gaps_table(report["gaps"]))),
            "report_html": dg.MetadataValue.path(str(paths["html"])),
            "report_json": dg.MetadataValue.path(str(paths["json"])),
        }
        if report["score"] is not None:
            metadata["score"] = float(report["score"])
        return dg.MaterializeResult(
            metadata=metadata,
            check_results=[_kind_check(kind, report["metrics"]) for kind in REPORT_KINDS],
        )

    return gap_report


def build_generator_config_asset(loop: str) -> dg.AssetsDefinition:
    """The feedback asset: the next generator config version from the latest report."""

    @dg.asset(
        key=generator_config_key(loop),
        deps=[gap_report_key(loop)],
        group_name=loop,
        kinds={"yaml"},
        description=(
            f"The next generator config of loop `{loop}` (generator/vNNNN.yaml, never edited in "
            "place) with a changelog entry per change; a proposal in `propose` mode, current "
            "at once in `auto` mode."
        ),
    )
    def generator_config(home: HomeResource) -> dg.MaterializeResult:
        report = latest_report(home.home(), loop)
        if report is None:
            return dg.MaterializeResult(metadata={"status": "no gap report yet"})
        proposal = propose_next(home.home(), home.spec(loop), report)
        lines = [line for rec in report["recommendations"] for line in diff_lines(rec)]
        return dg.MaterializeResult(
            metadata={
                "status": proposal.reason,
                "version": proposal.version or "",
                "changes": proposal.changes,
                "accepted": proposal.accepted,
                "file": str(proposal.path or ""),
                "diff": dg.MetadataValue.md(
                    code_block(lines[:60], "diff") if lines else "_no change_"
                ),
            }
        )

    return generator_config


class AcceptConfig(dg.Config):
    """Which proposed version to accept; empty means the newest proposal."""

    version: str | None = Field(None, description="e.g. v0003; empty: the newest proposal")


def build_accepted_config_asset(loop: str) -> dg.AssetsDefinition:
    """The asset a person materialises to accept a proposed generator config."""

    @dg.asset(
        key=accepted_config_key(loop),
        deps=[generator_config_key(loop)],
        group_name=loop,
        kinds={"yaml"},
        description=(
            f"Accept loop `{loop}`'s proposed generator config (the newest proposal, or the "
            "version in the run config): it becomes current and the next batch uses it."
        ),
    )
    def accepted_config(config: AcceptConfig, home: HomeResource) -> dg.MaterializeResult:
        layout = home.home().loop(loop)
        waiting = proposals(layout)
        version = config.version or (waiting[-1] if waiting else None)
        if version is None:
            return dg.MaterializeResult(
                metadata={"status": "no proposal waiting", "current": current_version(layout) or ""}
            )
        previous = accept(layout, version, by="dagster")
        return dg.MaterializeResult(
            metadata={"status": "accepted", "current": version, "previous": previous or ""}
        )

    return accepted_config


class BatchSize(dg.Config):
    """How many rows the reference generator makes, from which version (defaults: the config's
    `rows`, the current version)."""

    rows: int | None = Field(None, description="rows in the batch; empty: the config's rows")
    version: str | None = Field(None, description="e.g. v0003; empty: the current version")


def build_reference_batch_asset(loop: str) -> dg.AssetsDefinition:
    """The asset that makes a synthetic batch with the reference generator's current config."""

    @dg.asset(
        key=reference_batch_key(loop),
        deps=[accepted_config_key(loop)],
        group_name=loop,
        kinds={"parquet"},
        description=(
            f"A synthetic batch for loop `{loop}` from the reference generator's current config "
            "(a first config is fitted on the human truth), written to landing/synthetic with "
            "its generator version; the landing sensor ingests it."
        ),
    )
    def reference_batch(config: BatchSize, home: HomeResource) -> dg.MaterializeResult:
        try:
            batch = make_batch(home.home(), home.spec(loop), config.version, config.rows)
        except ValidationLoopError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        return dg.MaterializeResult(
            metadata={
                "file": dg.MetadataValue.path(str(batch.path)),
                "generator_version": batch.config.version,
                "dagster/row_count": batch.rows,
            }
        )

    return reference_batch
