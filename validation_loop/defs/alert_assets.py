"""The asset that turns a loop's newest gap report into alerts (and never fails the run)."""

import dagster as dg

from validation_loop.alerts.dispatch import notify_report
from validation_loop.defs.feedback_assets import gap_report_key
from validation_loop.defs.resources import HomeResource, env_value
from validation_loop.report.store import latest_report


def alerts_key(loop: str) -> dg.AssetKey:
    """The asset key of a loop's alerts."""
    return dg.AssetKey([loop, "alerts"])


def build_alerts_asset(loop: str) -> dg.AssetsDefinition:
    """Alerts for what changed since the previous report, delivered to the routes in loop.yaml."""

    @dg.asset(
        key=alerts_key(loop),
        deps=[gap_report_key(loop)],
        group_name=loop,
        kinds={"duckdb"},
        description=(
            f"Alerts of loop `{loop}`: new, worse, long-open and resolved gaps of the newest "
            "report, per route by severity (Slack, Teams, signed webhook, email). Undelivered "
            "alerts stay queued for the alert sensor; delivery problems never fail this run."
        ),
    )
    def alerts(context: dg.AssetExecutionContext, home: HomeResource) -> dg.MaterializeResult:
        spec = home.spec(loop)
        report = latest_report(home.home(), loop)
        if report is None:
            return dg.MaterializeResult(metadata={"status": "no gap report yet"})
        try:
            summary = notify_report(home.home(), spec, report, context.run_id, env_value)
        except Exception as exc:  # alerting must never fail the pipeline run
            context.log.error(f"alerts of report {report['report_id']} failed: {exc!r}")
            return dg.MaterializeResult(
                metadata={"status": f"alerting failed: {type(exc).__name__}; see the run log"}
            )
        for error in summary.errors:
            context.log.warning(f"alert not delivered yet: {error}")
        return dg.MaterializeResult(
            metadata={
                "report_id": report["report_id"],
                "routes": len(spec.alerts.routes),
                "queued": summary.queued,
                "sent": summary.sent,
                "pending": summary.pending,
            }
        )

    return alerts
