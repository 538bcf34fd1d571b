"""Assets of one loop: its batches (one partition each), its inventory, and its gap records."""

import json
import math
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from validation_loop.defs.partitions import batch_partitions
from validation_loop.defs.resources import HomeResource
from validation_loop.errors import BatchRejected, ValidationLoopError
from validation_loop.gaps.store import compare_loop
from validation_loop.home import Home
from validation_loop.ingest import BatchRecord, settle
from validation_loop.inventory import loop_inventory
from validation_loop.landing import ingest_batch
from validation_loop.quality.labels import LabelQuality, refresh_label_quality
from validation_loop.quality.suite import SUITE_FILE, SuiteError, read_entries
from validation_loop.quality.validation import ExpectationOutcome, check_names, validate_batch
from validation_loop.render.markdown import inline, table_markdown, to_markdown
from validation_loop.render.tables import Table, gaps_table, inventory_document
from validation_loop.spec import LoopSpec
from validation_loop.warehouse import Warehouse, fetch_dicts, quote_ident

PREVIEW_ROWS = 5


class BatchConfig(dg.Config):
    """Where a batch partition's file is; empty means the stored batch or the landing file."""

    file: str | None = Field(
        None, description="Path of the batch file; empty: the landing file with this content."
    )
    generator_version: str | None = Field(
        None, description="Synthetic batches: the generator version that made the file."
    )
    show_progress: bool = Field(
        False, description="Draw DuckDB's progress bar (for runs started from a terminal)."
    )


def batches_key(loop: str) -> dg.AssetKey:
    """The asset key of a loop's batches."""
    return dg.AssetKey([loop, "batches"])


def label_quality_key(loop: str) -> dg.AssetKey:
    """The asset key of a loop's human-label quality."""
    return dg.AssetKey([loop, "label_quality"])


def gaps_key(loop: str) -> dg.AssetKey:
    """The asset key of a loop's gap records."""
    return dg.AssetKey([loop, "gaps"])


def inventory_key(loop: str) -> dg.AssetKey:
    """The asset key of a loop's inventory."""
    return dg.AssetKey([loop, "inventory"])


def batch_run_config(
    loop: str, file: Path, generator_version: str | None = None, show_progress: bool = False
) -> dict[str, Any]:
    """Run config that ingests `file` as a batch partition of `loop`."""
    config: dict[str, Any] = {"file": str(file), "show_progress": show_progress}
    if generator_version:
        config["generator_version"] = generator_version
    return {"ops": {batches_key(loop).to_python_identifier(): {"config": config}}}


def _preview(home: HomeResource, batch: BatchRecord) -> str:
    """The batch's first rows, as Markdown."""
    with Warehouse(home.home().warehouse_path).read() as con:
        rows = fetch_dicts(
            con,
            f"SELECT * EXCLUDE (_batch_id) FROM {quote_ident(batch.loop)}."
            f"{quote_ident(batch.source)} WHERE _batch_id = ? ORDER BY _row LIMIT ?",
            [batch.batch_id, PREVIEW_ROWS],
        )
    columns = list(rows[0]) if rows else []
    return table_markdown(Table("preview", columns, [list(r.values()) for r in rows]))


SUITE_CHECK = "expectation_suite"


def suite_check_specs(home: Home, loop: str) -> list[dg.AssetCheckSpec]:
    """One check per expectation of the loop's suite as it is now, plus the suite as a whole.

    Error-severity expectations block: a batch that fails one is left out of the gap checks.
    """
    key = batches_key(loop)
    specs = [
        dg.AssetCheckSpec(
            SUITE_CHECK,
            asset=key,
            blocking=True,
            description="Every expectation of the suite; fails on any error-severity failure.",
        )
    ]
    try:
        entries = read_entries(home.loop(loop).root / SUITE_FILE)
    except SuiteError:
        return specs  # the run reports the broken suite
    for name, entry in zip(check_names(entries), entries, strict=True):
        critical = str(entry.get("severity", "critical")) == "critical"
        specs.append(
            dg.AssetCheckSpec(
                name,
                asset=key,
                blocking=critical,
                description=f"GX {entry.get('type')} ({'error' if critical else 'warn'})",
            )
        )
    return specs


def _check_result(outcome: ExpectationOutcome) -> dg.AssetCheckResult:
    """An expectation's outcome as a Dagster check result, observed value beside threshold."""
    return dg.AssetCheckResult(
        check_name=outcome.check_name,
        passed=outcome.success,
        severity=(
            dg.AssetCheckSeverity.ERROR
            if outcome.severity == "error"
            else dg.AssetCheckSeverity.WARN
        ),
        metadata={
            "observed_value": json.dumps(outcome.observed_value, default=str),
            "threshold": outcome.expected,
            "unexpected_count": outcome.unexpected_count or 0,
            "unexpected_percent": float(outcome.unexpected_percent or 0.0),
            "unexpected_examples": json.dumps(outcome.unexpected_examples, default=str),
        },
    )


def _suite_result(outcomes: list[ExpectationOutcome]) -> dg.AssetCheckResult:
    """The suite as a whole: fails when an error-severity expectation failed."""
    failed = [o for o in outcomes if not o.success]
    errors = [o for o in failed if o.severity == "error"]
    table = Table(
        "failed expectations",
        ["severity", "expectation", "columns", "observed", "expected"],
        [
            [
                o.severity,
                o.expectation_type,
                ", ".join(o.columns),
                json.dumps(o.observed_value, default=str)[:80],
                o.expected[:80],
            ]
            for o in failed
        ],
        empty="every expectation passed",
    )
    return dg.AssetCheckResult(
        check_name=SUITE_CHECK,
        passed=not errors,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "expectations": len(outcomes),
            "failed_errors": len(errors),
            "failed_warnings": len(failed) - len(errors),
            "failed": dg.MetadataValue.md(table_markdown(table)),
        },
    )


def build_batches_asset(home: Home, loop: str) -> dg.AssetsDefinition:
    """The partitioned asset that ingests one batch file per partition and validates it."""
    specs = suite_check_specs(home, loop)
    declared = {spec.name for spec in specs}

    @dg.asset(
        key=batches_key(loop),
        partitions_def=batch_partitions(loop),
        group_name=loop,
        kinds={"duckdb"},
        check_specs=specs,
        description=(
            f"Batches of loop `{loop}` in the DuckDB warehouse, one partition per file "
            "(human or synthetic), with lineage, each validated by the loop's GX suite. A "
            "rejected file fails its partition and is kept in quarantine/ with the reason."
        ),
    )
    def batches(
        context: dg.AssetExecutionContext, config: BatchConfig, home: HomeResource
    ) -> dg.MaterializeResult:
        spec = home.spec(loop)
        file = Path(config.file) if config.file else None
        try:
            outcome = ingest_batch(
                home.home(),
                spec,
                context.partition_key,
                file,
                config.generator_version,
                progress=config.show_progress,
                archive=False,
            )
        except BatchRejected as rejected:
            where = rejected.rejection
            raise dg.Failure(
                description=str(rejected),
                metadata={
                    "file": rejected.file_name,
                    "kind": where.kind,
                    "column": where.column or "",
                    "row": where.row if where.row is not None else -1,
                    "line": where.line if where.line is not None else -1,
                    "quarantine": str(home.home().loop(loop).quarantine),
                },
                allow_retries=False,
            ) from None
        batch = outcome.batch
        if not outcome.new:
            context.log.info(f"batch {batch.batch_id} was already ingested; nothing changed")
        try:
            outcomes, docs_page = validate_batch(home.home(), spec, batch.batch_id)
        except ValidationLoopError as exc:
            raise dg.Failure(
                description=f"batch {batch.batch_id} is stored but not validated: {exc}",
                allow_retries=False,
            ) from None
        outcome = settle(home.home(), outcome)  # last: a crash before leaves the file in landing
        checks = [_suite_result(outcomes)]
        checks += [_check_result(o) for o in outcomes if o.check_name in declared]
        current = {o.check_name for o in outcomes} | {SUITE_CHECK}
        checks += [
            dg.AssetCheckResult(
                check_name=name,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"observed": "no longer in the suite; reload the code location"},
            )
            for name in sorted(declared - current)
        ]
        return dg.MaterializeResult(
            metadata={
                "batch_id": batch.batch_id,
                "source": batch.source,
                "file": batch.file_name,
                "sha256": batch.sha256,
                "format": batch.format,
                "dagster/row_count": batch.row_count,
                "judgements": batch.judgement_count or 0,
                "generator_version": batch.generator_version or "",
                "ingested_at": batch.ingested_at.isoformat(),
                "new": outcome.new,
                "warnings": dg.MetadataValue.md(
                    "\n".join(f"- {inline(w)}" for w in batch.warnings) or "_none_"
                ),
                "archived_as": str(outcome.stored_as or ""),
                "preview": dg.MetadataValue.md(_preview(home, batch)),
                "data_docs": dg.MetadataValue.url(docs_page.as_uri()),
            },
            check_results=checks,
        )

    return batches


def build_inventory_asset(loop: str) -> dg.AssetsDefinition:
    """The asset that lists a loop's batches and every rejected file with its reason."""

    @dg.asset(
        key=inventory_key(loop),
        deps=[batches_key(loop)],
        group_name=loop,
        kinds={"duckdb"},
        description=(
            f"What loop `{loop}` holds: accepted batches with lineage and row counts, and "
            "every rejected file with the reason (file, column, row)."
        ),
    )
    def inventory(home: HomeResource) -> dg.MaterializeResult:
        report = loop_inventory(home.home(), loop)
        document = inventory_document(report)
        return dg.MaterializeResult(
            metadata={
                "human_batches": len(report["human_batches"]),
                "human_rows": report["human_rows"],
                "synthetic_batches": len(report["synthetic_batches"]),
                "synthetic_rows": report["synthetic_rows"],
                "rejected_files": len(report["rejected_files"]),
                "summary": dg.MetadataValue.md(to_markdown(document)),
            }
        )

    return inventory


def _alpha_check(quality: LabelQuality | None, spec: LoopSpec) -> dg.AssetCheckResult:
    """Krippendorff's alpha against the spec's warn and error levels."""
    alpha = math.nan if quality is None else quality.alpha
    limits = {"warn_below": spec.quality.alpha_warn, "error_below": spec.quality.alpha_error}
    if math.isnan(alpha):
        return dg.AssetCheckResult(
            check_name="krippendorff_alpha",
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                **limits,
                "observed": "not computable: no item has two judgements, or every judgement "
                "has the same label",
            },
        )
    error = alpha < spec.quality.alpha_error
    return dg.AssetCheckResult(
        check_name="krippendorff_alpha",
        passed=alpha >= spec.quality.alpha_warn,
        severity=dg.AssetCheckSeverity.ERROR if error else dg.AssetCheckSeverity.WARN,
        metadata={**limits, "observed": alpha},
    )


def build_label_quality_asset(loop: str) -> dg.AssetsDefinition:
    """The asset that measures annotator agreement and sets the consensus truth."""

    @dg.asset(
        key=label_quality_key(loop),
        deps=[batches_key(loop)],
        group_name=loop,
        kinds={"duckdb"},
        check_specs=[
            dg.AssetCheckSpec(
                "krippendorff_alpha",
                asset=label_quality_key(loop),
                description="Agreement of the annotators (warn and error levels in loop.yaml).",
            )
        ],
        description=(
            f"Agreement among loop `{loop}`'s annotators (Krippendorff's alpha, Fleiss' kappa, "
            "per item and per annotator), the consensus label of each item, and the items "
            "left out of the human truth for low agreement."
        ),
    )
    def label_quality(home: HomeResource) -> dg.MaterializeResult:
        spec = home.spec(loop)
        quality = refresh_label_quality(home.home(), spec)
        metadata: dict[str, Any] = {"status": "no judgements yet"}
        if quality is not None:
            metadata = {key: value for key, value in quality.summary().items() if value is not None}
            worst = quality.annotators.sort_values(quality.annotators.columns[2]).head(10)
            metadata["annotators_table"] = dg.MetadataValue.md(
                table_markdown(
                    Table("annotators", list(worst.columns), worst.round(3).values.tolist())
                )
            )
        return dg.MaterializeResult(metadata=metadata, check_results=[_alpha_check(quality, spec)])

    return label_quality


def build_gaps_asset(loop: str, after: list[dg.AssetKey]) -> dg.AssetsDefinition:
    """The asset that compares the human truth with the current synthetic batches."""

    @dg.asset(
        key=gaps_key(loop),
        deps=[batches_key(loop), *after],
        group_name=loop,
        kinds={"duckdb"},
        description=(
            f"Where loop `{loop}`'s synthetic data differs from its human data: marginal, "
            "pairwise, coverage, diversity, privacy and bias gaps (docs/metrics.md), graded "
            "with effect thresholds and a false discovery rate, kept in `gap_records`."
        ),
    )
    def gaps(home: HomeResource) -> dg.MaterializeResult:
        outcome = compare_loop(home.home(), home.spec(loop))
        if outcome is None:
            return dg.MaterializeResult(
                metadata={"status": "nothing to compare yet: needs a human and a synthetic batch"}
            )
        comparison, result, comparison_id = outcome
        counts = result.counts()
        records = [r.to_dict() for r in result.records]
        return dg.MaterializeResult(
            metadata={
                "comparison_id": comparison_id,
                "generator_version": comparison.generator_version or "",
                "human_rows": result.human_rows,
                "synthetic_rows": result.synthetic_rows,
                "errors": counts["error"],
                "warnings": counts["warn"],
                "metrics": len(records),
                "seconds": round(sum(result.seconds.values()), 2),
                "gaps": dg.MetadataValue.md(table_markdown(gaps_table(records))),
            }
        )

    return gaps
