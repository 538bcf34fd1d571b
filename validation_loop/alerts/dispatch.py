"""Queue alerts in DuckDB and deliver them with retries; nothing here ever fails a run.

Every alert becomes one `alert_deliveries` row per route (status `pending`), then delivery is
tried `alerts.attempts` times with exponential backoff. A delivery still failing stays
`pending` with its reason and a `next_attempt_at`, and the alert sensor tries again on a later
tick, so an alert is never lost. A delivery being sent is leased (its `next_attempt_at` moved
ahead) so two processes do not send it twice.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from validation_loop.alerts.events import GapEvent, OpenGap, diff_gaps
from validation_loop.alerts.messages import Alert, gap_alert
from validation_loop.alerts.notifiers import DeliveryError, Resolve, send
from validation_loop.gaps.records import SEVERITY_ORDER
from validation_loop.home import Home
from validation_loop.spec import LoopSpec, RouteSpec
from validation_loop.warehouse import Warehouse, fetch_dicts

LEASE = timedelta(minutes=5)
MAX_RETRY_DELAY = timedelta(hours=1)


@dataclass(frozen=True)
class DeliverySummary:
    """What one dispatch did."""

    queued: int
    sent: int
    pending: int
    errors: list[str]


def report_link(home: Home, spec: LoopSpec, report_id: str) -> str:
    """Where a person opens a report: `alerts.report_url` + id, else the file."""
    if spec.alerts.report_url:
        return f"{spec.alerts.report_url.rstrip('/')}/{report_id}.html"
    return (home.reports_dir(spec.name) / f"{report_id}.html").as_uri()


def run_link(spec: LoopSpec, run_id: str | None) -> str | None:
    """The Dagster UI page of a run."""
    return f"{spec.alerts.dagster_url.rstrip('/')}/runs/{run_id}" if run_id else None


def _routes_for(spec: LoopSpec, severity: str) -> list[RouteSpec]:
    """Routes that take alerts of this severity (run failures count as errors)."""
    rank = SEVERITY_ORDER.get(severity, 0)
    return [r for r in spec.alerts.routes if rank >= SEVERITY_ORDER[r.min_severity]]


def _queue(home: Home, spec: LoopSpec, alert: Alert, routes: list[RouteSpec]) -> int:
    """One pending delivery per route."""
    if not routes:
        return 0
    now = datetime.now(UTC)
    with Warehouse(home.warehouse_path).write() as con:
        con.executemany(
            "INSERT INTO alert_deliveries "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, NULL, ?, NULL)",
            [
                [
                    spec.name,
                    uuid.uuid4().hex[:16],
                    now,
                    alert.event,
                    route.name,
                    alert.severity,
                    json.dumps(alert.to_dict()),
                    now,
                ]
                for route in routes
            ],
        )
    return len(routes)


def _load_open(home: Home, loop: str) -> dict[str, OpenGap]:
    """The loop's open gaps."""
    with Warehouse(home.warehouse_path).read() as con:
        rows = fetch_dicts(
            con,
            "SELECT * FROM alert_state WHERE loop = ? AND closed_at IS NULL",
            [loop],
        )
    return {
        r["gap_key"]: OpenGap(
            r["gap_key"],
            json.loads(r["record"]),
            r["severity"],
            r["max_severity"],
            r["opened_at"],
            r["last_notified_at"],
        )
        for r in rows
    }


def _save_state(
    home: Home, loop: str, after: dict[str, OpenGap], events: list[GapEvent], now: datetime
) -> None:
    """Replace the open gaps; close the resolved ones."""
    resolved = [e.key for e in events if e.event == "resolved"]
    with Warehouse(home.warehouse_path).write() as con:
        con.execute("BEGIN")
        con.execute("DELETE FROM alert_state WHERE loop = ? AND closed_at IS NULL", [loop])
        if resolved:
            con.execute(
                "DELETE FROM alert_state WHERE loop = ? AND list_contains(?, gap_key)",
                [loop, resolved],
            )
        rows = [
            [
                loop,
                g.key,
                json.dumps(g.record),
                g.severity,
                g.max_severity,
                g.opened_at,
                g.last_notified_at,
                None,
            ]
            for g in after.values()
        ]
        rows += [
            [loop, e.key, json.dumps(e.record), "info", e.severity, e.since, now, now]
            for e in events
            if e.event == "resolved"
        ]
        if rows:
            con.executemany("INSERT INTO alert_state VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.execute("COMMIT")


def notify_report(
    home: Home,
    spec: LoopSpec,
    report: dict[str, Any],
    run_id: str | None,
    resolve: Resolve,
    now: datetime | None = None,
) -> DeliverySummary:
    """Alert on what changed since the last report (per route by severity), then deliver."""
    now = now or datetime.now(UTC)
    events, after = diff_gaps(
        _load_open(home, spec.name),
        report["gaps"],
        now,
        timedelta(hours=spec.alerts.renotify_hours),
    )
    _save_state(home, spec.name, after, events, now)
    queued = 0
    for route in spec.alerts.routes:
        floor = SEVERITY_ORDER[route.min_severity]
        mine = [e for e in events if SEVERITY_ORDER[e.severity] >= floor]
        if not mine:
            continue
        alert = gap_alert(
            spec.name,
            mine,
            now,
            report,
            report_link(home, spec, report["report_id"]),
            run_link(spec, run_id),
            spec.alerts.max_gaps,
        )
        queued += _queue(home, spec, alert, [route])
    summary = deliver_due(home, spec, resolve)
    return DeliverySummary(queued, summary.sent, summary.pending, summary.errors)


def notify_run_failure(
    home: Home, spec: LoopSpec, job: str, run_id: str, error: str, resolve: Resolve
) -> DeliverySummary:
    """Tell every route that one of the loop's runs failed, then deliver."""
    now = datetime.now(UTC)
    alert = Alert(
        loop=spec.name,
        event="run_failure",
        severity="error",
        title=f"validation_loop: loop {spec.name}: run of {job} failed",
        summary=f"Run {run_id} of job {job} failed: {error[:500]}",
        created_at=now.isoformat(),
        run_url=run_link(spec, run_id),
        details={"job": job, "run_id": run_id},
    )
    queued = _queue(home, spec, alert, _routes_for(spec, "error"))
    summary = deliver_due(home, spec, resolve)
    return DeliverySummary(queued, summary.sent, summary.pending, summary.errors)


def send_test(home: Home, spec: LoopSpec, resolve: Resolve) -> dict[str, str | None]:
    """A test message to every route; per route None (delivered) or the reason it failed."""
    now = datetime.now(UTC)
    alert = Alert(
        loop=spec.name,
        event="test",
        severity="info",
        title=f"validation_loop: loop {spec.name}: test message",
        summary="If you can read this, alerts of this loop reach this destination.",
        created_at=now.isoformat(),
    )
    results: dict[str, str | None] = {}
    for route in spec.alerts.routes:
        _queue(home, spec, alert, [route])
    for row in _claim(home, spec.name, datetime.now(UTC), event="test"):
        results[row["route"]] = _attempt(home, spec, row, resolve)
    return results


def _claim(home: Home, loop: str, now: datetime, event: str | None = None) -> list[dict[str, Any]]:
    """Pending deliveries due now, leased to this process."""
    with Warehouse(home.warehouse_path).write() as con:
        rows = fetch_dicts(
            con,
            "SELECT * FROM alert_deliveries WHERE loop = $loop AND status = 'pending' "
            "AND next_attempt_at <= $now AND ($event IS NULL OR event = $event) "
            "ORDER BY created_at",
            {"loop": loop, "now": now, "event": event},
        )
        if rows:
            con.execute(
                "UPDATE alert_deliveries SET next_attempt_at = $lease WHERE loop = $loop "
                "AND list_contains($ids, delivery_id)",
                {"lease": now + LEASE, "loop": loop, "ids": [r["delivery_id"] for r in rows]},
            )
    return rows


def _attempt(home: Home, spec: LoopSpec, row: dict[str, Any], resolve: Resolve) -> str | None:
    """Try one delivery up to `alerts.attempts` times; record the outcome. None when sent."""
    routes = {r.name: r for r in spec.alerts.routes}
    route = routes.get(row["route"])
    alert = Alert.from_dict(json.loads(row["alert"]))
    error: str | None = f"route {row['route']} is no longer in loop.yaml"
    tries = 0
    delay = spec.alerts.backoff_seconds
    while route is not None and tries < spec.alerts.attempts:
        tries += 1
        try:
            send(route, alert, resolve, spec.alerts.timeout_seconds)
            error = None
            break
        except DeliveryError as exc:
            error = str(exc)
            if tries < spec.alerts.attempts:
                time.sleep(delay)
                delay *= 2
    attempts = int(row["attempts"]) + tries
    now = datetime.now(UTC)
    retry = min(MAX_RETRY_DELAY, timedelta(minutes=2 ** min(attempts, 10)))
    with Warehouse(home.warehouse_path).write() as con:
        con.execute(
            "UPDATE alert_deliveries SET status = $status, attempts = $attempts, "
            "last_error = $error, next_attempt_at = $next, sent_at = $sent "
            "WHERE loop = $loop AND delivery_id = $id",
            {
                "status": "sent" if error is None else "pending",
                "attempts": attempts,
                "error": error,
                "next": None if error is None else now + retry,
                "sent": now if error is None else None,
                "loop": spec.name,
                "id": row["delivery_id"],
            },
        )
    return error


def deliver_due(
    home: Home, spec: LoopSpec, resolve: Resolve, now: datetime | None = None
) -> DeliverySummary:
    """Deliver every pending delivery that is due (new ones and earlier failures)."""
    rows = _claim(home, spec.name, now or datetime.now(UTC))
    errors = [e for e in (_attempt(home, spec, row, resolve) for row in rows) if e]
    return DeliverySummary(0, len(rows) - len(errors), len(errors), errors)


def recent_deliveries(home: Home, loop: str, limit: int = 20) -> list[dict[str, Any]]:
    """The loop's latest deliveries, newest first."""
    with Warehouse(home.warehouse_path).read() as con:
        rows = fetch_dicts(
            con,
            "SELECT created_at, event, route, severity, status, attempts, last_error, sent_at, "
            "alert ->> '$.title' AS title FROM alert_deliveries WHERE loop = ? "
            "ORDER BY created_at DESC LIMIT ?",
            [loop, limit],
        )
    return rows
