"""Queue alerts in DuckDB and deliver them with retries; nothing here ever fails a run.

A report's alerts are decided and queued in one write transaction (read the open gaps, diff,
save the new state, insert one `pending` row per route and message), so two overlapping compare
runs cannot both announce the same change and a crash cannot lose one. Delivery happens after,
outside the lock: each row is claimed on its own with a lease token (its `next_attempt_at`
moved past the worst time a delivery can take), tried `alerts.attempts` times with exponential
backoff, and finished only by the holder of the lease. A delivery still failing stays `pending`
with its reason and a later `next_attempt_at`, and the alert sensor tries again on a later tick,
so an alert is never lost. Deliveries to a route no longer in loop.yaml, and failed test
messages, end `failed`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from validation_loop.alerts.events import GapEvent, OpenGap, diff_gaps
from validation_loop.alerts.messages import Alert, gap_alert
from validation_loop.alerts.notifiers import DeliveryError, Resolve, send
from validation_loop.gaps.records import SEVERITY_ORDER
from validation_loop.home import Home
from validation_loop.spec import AlertSpec, LoopSpec, RouteSpec
from validation_loop.warehouse import Warehouse, fetch_dicts, insert_rows

MAX_RETRY_DELAY = timedelta(hours=1)
LEASE_MARGIN = timedelta(seconds=60)


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


def worst_delivery_time(settings: AlertSpec) -> timedelta:
    """The longest one delivery can take: every attempt timing out, plus the backoff waits."""
    waits = settings.backoff_seconds * (2 ** (settings.attempts - 1) - 1)
    return timedelta(seconds=settings.attempts * settings.timeout_seconds + waits)


def _insert(
    con: duckdb.DuckDBPyConnection, loop: str, alert: Alert, routes: Iterable[RouteSpec]
) -> list[str]:
    """One pending delivery per route; returns their ids."""
    now = datetime.now(UTC)
    rows = [
        [
            loop,
            uuid.uuid4().hex[:16],
            now,
            alert.event,
            r.name,
            alert.severity,
            json.dumps(alert.to_dict()),
            now,
        ]
        for r in routes
    ]
    if rows:
        con.executemany(
            "INSERT INTO alert_deliveries VALUES "
            "(?, ?, ?, ?, ?, ?, ?, 'pending', 0, NULL, ?, NULL, NULL)",
            rows,
        )
    return [row[1] for row in rows]


def _queue(home: Home, spec: LoopSpec, alert: Alert, routes: list[RouteSpec]) -> list[str]:
    """Queue one alert for these routes in its own transaction."""
    if not routes:
        return []
    with Warehouse(home.warehouse_path).write() as con:
        return _insert(con, spec.name, alert, routes)


def _open_gaps(con: duckdb.DuckDBPyConnection, loop: str) -> dict[str, OpenGap]:
    """The loop's open gaps (times in UTC whatever the session's time zone)."""
    rows = fetch_dicts(
        con, "SELECT * FROM alert_state WHERE loop = ? AND closed_at IS NULL", [loop]
    )
    return {
        r["gap_key"]: OpenGap(
            r["gap_key"],
            json.loads(r["record"]),
            r["severity"],
            r["max_severity"],
            r["opened_at"].astimezone(UTC),
            r["last_notified_at"].astimezone(UTC),
        )
        for r in rows
    }


def _save_state(
    con: duckdb.DuckDBPyConnection,
    loop: str,
    after: dict[str, OpenGap],
    events: list[GapEvent],
    now: datetime,
) -> None:
    """Rewrite the open gaps and close the resolved ones (a closed row gives way when its gap
    opens again)."""
    resolved = [e for e in events if e.event == "resolved"]
    con.execute(
        "DELETE FROM alert_state WHERE loop = ? "
        "AND (closed_at IS NULL OR list_contains(?, gap_key))",
        [loop, [*after, *(e.key for e in resolved)]],
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
        [loop, e.key, json.dumps(e.record), "info", e.severity, e.since, now, now] for e in resolved
    ]
    insert_rows(con, "alert_state", rows)


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
    queued = 0
    with Warehouse(home.warehouse_path).write() as con:
        con.execute("BEGIN")
        events, after = diff_gaps(
            _open_gaps(con, spec.name),
            report["gaps"],
            now,
            timedelta(hours=spec.alerts.renotify_hours),
        )
        _save_state(con, spec.name, after, events, now)
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
            queued += len(_insert(con, spec.name, alert, [route]))
        con.execute("COMMIT")
    summary = deliver_due(home, spec, resolve)
    return DeliverySummary(queued, summary.sent, summary.pending, summary.errors)


def notify_run_failure(
    home: Home, spec: LoopSpec, job: str, run_id: str, error: str, resolve: Resolve
) -> DeliverySummary:
    """Tell every route that one of the loop's runs failed, then deliver."""
    alert = Alert(
        loop=spec.name,
        event="run_failure",
        severity="error",
        title=f"validation_loop: loop {spec.name}: run of {job} failed",
        summary=f"Run {run_id} of job {job} failed: {error[:500]}",
        created_at=datetime.now(UTC).isoformat(),
        run_url=run_link(spec, run_id),
        details={"job": job, "run_id": run_id},
    )
    with Warehouse(home.warehouse_path).write() as con:
        con.execute("BEGIN")
        known = con.execute(
            "SELECT count(*) FROM alert_deliveries WHERE loop = ? AND event = 'run_failure' "
            "AND (alert ->> '$.details.run_id') = ?",
            [spec.name, run_id],
        ).fetchone()
        # the CLI and the daemon's run-failure sensor may both report the same run: once
        fresh = not (known and known[0])
        queued = len(_insert(con, spec.name, alert, spec.alerts.routes)) if fresh else 0
        con.execute("COMMIT")
    summary = deliver_due(home, spec, resolve)
    return DeliverySummary(queued, summary.sent, summary.pending, summary.errors)


def send_test(home: Home, spec: LoopSpec, resolve: Resolve) -> dict[str, str | None]:
    """A test message to every route, tried now and never retried later; per route None
    (delivered) or the reason it failed."""
    alert = Alert(
        loop=spec.name,
        event="test",
        severity="info",
        title=f"validation_loop: loop {spec.name}: test message",
        summary="If you can read this, alerts of this loop reach this destination.",
        created_at=datetime.now(UTC).isoformat(),
    )
    results: dict[str, str | None] = {}
    for route in spec.alerts.routes:
        (delivery_id,) = _queue(home, spec, alert, [route])
        claimed = _claim(home, spec, delivery_id)
        results[route.name] = (
            _attempt(home, spec, claimed, resolve, retry_later=False)
            if claimed
            else "claimed by another process"
        )
    return results


def _claim(home: Home, spec: LoopSpec, delivery_id: str | None = None) -> dict[str, Any] | None:
    """Lease the oldest due pending delivery (or the one named) to this process."""
    now = datetime.now(UTC)
    token = uuid.uuid4().hex
    with Warehouse(home.warehouse_path).write() as con:
        rows = fetch_dicts(
            con,
            "SELECT * FROM alert_deliveries WHERE loop = $loop AND status = 'pending' "
            "AND next_attempt_at <= $now AND ($id IS NULL OR delivery_id = $id) "
            "ORDER BY created_at LIMIT 1",
            {"loop": spec.name, "now": now, "id": delivery_id},
        )
        if not rows:
            return None
        con.execute(
            "UPDATE alert_deliveries SET next_attempt_at = $until, lease = $token "
            "WHERE loop = $loop AND delivery_id = $id",
            {
                "until": now + worst_delivery_time(spec.alerts) + LEASE_MARGIN,
                "token": token,
                "loop": spec.name,
                "id": rows[0]["delivery_id"],
            },
        )
    return {**rows[0], "lease": token}


def _attempt(
    home: Home, spec: LoopSpec, row: dict[str, Any], resolve: Resolve, retry_later: bool = True
) -> str | None:
    """Try a claimed delivery up to `alerts.attempts` times and record the outcome (only while
    this process still holds the lease). None when sent, else the reason."""
    route = {r.name: r for r in spec.alerts.routes}.get(row["route"])
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
            if not exc.retryable:
                break
            if tries < spec.alerts.attempts:
                time.sleep(delay)
                delay *= 2
    attempts = int(row["attempts"]) + tries
    now = datetime.now(UTC)
    status = "sent" if error is None else "pending" if retry_later and route else "failed"
    retry = min(MAX_RETRY_DELAY, timedelta(minutes=2 ** min(attempts, 10)))
    with Warehouse(home.warehouse_path).write() as con:
        con.execute(
            "UPDATE alert_deliveries SET status = $status, attempts = $attempts, "
            "last_error = $error, next_attempt_at = $next, sent_at = $sent, lease = NULL "
            "WHERE loop = $loop AND delivery_id = $id AND lease = $token",
            {
                "status": status,
                "attempts": attempts,
                "error": error,
                "next": now + retry if status == "pending" else None,
                "sent": now if error is None else None,
                "loop": spec.name,
                "id": row["delivery_id"],
                "token": row["lease"],
            },
        )
    return error


def deliver_due(
    home: Home, spec: LoopSpec, resolve: Resolve, budget: timedelta | None = None
) -> DeliverySummary:
    """Deliver pending deliveries that are due (new ones and earlier failures), one claim at a
    time; with a `budget`, start no delivery after the first that could end after it."""
    started = time.monotonic()
    worst = worst_delivery_time(spec.alerts).total_seconds()
    sent, errors = 0, []
    while (
        budget is None
        or not sent + len(errors)  # at least one per call, so a tight budget still progresses
        or time.monotonic() - started + worst <= budget.total_seconds()
    ):
        row = _claim(home, spec)
        if row is None:
            break
        error = _attempt(home, spec, row, resolve)
        if error is None:
            sent += 1
        else:
            errors.append(error)
    return DeliverySummary(0, sent, len(errors), errors)


def recent_deliveries(home: Home, loop: str, limit: int = 20) -> list[dict[str, Any]]:
    """The loop's latest deliveries, newest first."""
    with Warehouse(home.warehouse_path).read() as con:
        return fetch_dicts(
            con,
            "SELECT created_at, event, route, severity, status, attempts, last_error, sent_at, "
            "alert ->> '$.title' AS title FROM alert_deliveries WHERE loop = ? "
            "ORDER BY created_at DESC LIMIT ?",
            [loop, limit],
        )
