"""Alerts through DuckDB state and real HTTP deliveries: dedup, routing, retries, no secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from validation_loop.alerts.dispatch import (
    deliver_due,
    notify_report,
    notify_run_failure,
    recent_deliveries,
)
from validation_loop.warehouse import Warehouse
from validation_loop_tests.servers import free_port, with_alerts

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def _gap(severity: str, column: str = "age") -> dict:
    return {
        "kind": "marginal",
        "metric": "ks",
        "columns": [column],
        "slice": None,
        "value": 0.3 if severity == "warn" else 0.5,
        "threshold": 0.1 if severity == "warn" else 0.2,
        "p_value": 0.0,
        "q_value": 0.0,
        "severity": severity,
        "message": f"{column} differs.",
    }


def _report(*gaps: dict, report_id: str = "r1") -> dict:
    counts = {"error": 0, "warn": 0, "info": 0}
    for gap in gaps:
        counts[gap["severity"]] += 1
    return {
        "report_id": report_id,
        "generator_version": "v0001",
        "score": 0.9,
        "counts": counts,
        "gaps": list(gaps),
    }


def _routes(url: str, dead: str | None = None) -> dict:
    return {
        "routes": [
            {"name": "channel", "type": "slack", "min_severity": "warn", "url_env": "CHANNEL"},
            {
                "name": "pager",
                "type": "webhook",
                "min_severity": "error",
                "url_env": "PAGER",
                "secret_env": "PAGER_SECRET",
            },
        ],
        "backoff_seconds": 0.01,
        "timeout_seconds": 0.5,
        "report_url": "https://reports.example/churn",
    }


def test_dedup_routing_and_resolved(home, spec, http_server) -> None:
    spec = with_alerts(home, spec, **_routes(http_server.url))
    env = {
        "CHANNEL": http_server.url + "/channel",
        "PAGER": http_server.url + "/pager",
        "PAGER_SECRET": "pager-secret",
    }.get
    first = notify_report(
        home, spec, _report(_gap("warn"), _gap("error", "region")), "run-1", env, T0
    )
    assert (first.queued, first.sent, first.pending) == (2, 2, 0)
    paths = sorted(r["path"].rsplit("/", 1)[-1] for r in http_server.requests)
    assert paths == ["channel", "pager"]
    channel = next(r for r in http_server.requests if r["path"].endswith("/channel"))
    assert "2 new gap(s)" in channel["body"].decode()
    pager = next(r for r in http_server.requests if r["path"].endswith("/pager"))
    assert b"region" in pager["body"] and b'"columns":["age"]' not in pager["body"]
    assert b"https://reports.example/churn/r1.html" in pager["body"]
    assert b"http://127.0.0.1:3000/runs/run-1" in pager["body"]

    again = notify_report(
        home,
        spec,
        _report(_gap("warn"), _gap("error", "region"), report_id="r2"),
        "run-2",
        env,
        T0 + timedelta(hours=1),
    )
    assert again.queued == 0 and len(http_server.requests) == 2

    later = notify_report(
        home, spec, _report(_gap("warn"), report_id="r3"), "run-3", env, T0 + timedelta(hours=2)
    )
    assert later.queued == 2  # `region` resolved: both routes got it when it opened
    assert all("1 resolved gap(s)" in r["body"].decode() for r in http_server.requests[2:])

    reminder = notify_report(
        home, spec, _report(_gap("warn"), report_id="r4"), "run-4", env, T0 + timedelta(hours=30)
    )
    assert reminder.queued == 1  # the warn gap, after 24 h, to the channel only
    assert "1 still open gap(s)" in http_server.requests[-1]["body"].decode()
    rows = recent_deliveries(home, "churn")
    assert {r["status"] for r in rows} == {"sent"} and len(rows) == 5


def test_failures_are_retried_and_never_lost(home, spec, http_server) -> None:
    spec = with_alerts(home, spec, **_routes(http_server.url))
    env = {"CHANNEL": http_server.url, "PAGER": http_server.url, "PAGER_SECRET": "x"}.get
    http_server.answers = [500, 200]
    summary = notify_report(home, spec, _report(_gap("warn")), None, env, T0)
    assert (summary.sent, summary.pending) == (1, 0)
    (row,) = recent_deliveries(home, "churn")
    assert (row["status"], row["attempts"]) == ("sent", 2)

    http_server.answers = [503] * 3
    summary = notify_report(home, spec, _report(_gap("warn", "plan")), None, env, T0)
    assert (summary.sent, summary.pending) == (0, 1)
    assert summary.errors == ["route channel: HTTP 503 Service Unavailable"]
    newest = recent_deliveries(home, "churn")[0]
    assert (newest["status"], newest["attempts"]) == ("pending", 3)
    assert deliver_due(home, spec, env).sent == 0  # not due yet: backoff
    with Warehouse(home.warehouse_path).write() as con:  # two hours pass
        con.execute(
            "UPDATE alert_deliveries SET next_attempt_at = next_attempt_at - INTERVAL 2 HOUR"
        )
    retried = deliver_due(home, spec, env)
    assert (retried.sent, retried.pending) == (1, 0)
    assert recent_deliveries(home, "churn")[0]["status"] == "sent"


def test_timeouts_and_refusals_are_recorded_without_secrets(home, spec, http_server) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hooks/TOKEN-abc"
    spec = with_alerts(home, spec, **_routes(http_server.url))
    env = {"CHANNEL": http_server.url + "/TOKEN-xyz", "PAGER": dead, "PAGER_SECRET": "sig-key"}.get
    http_server.answers = [("sleep", 1.0)] * 3
    summary = notify_report(home, spec, _report(_gap("error")), None, env, T0)
    assert summary.pending == 2
    assert sorted(summary.errors) == [
        "route channel: timed out after 0.5 s",
        "route pager: connection refused",
    ]
    run_failure = notify_run_failure(home, spec, "churn_ingest_batch", "run-9", "boom", env)
    assert run_failure.queued == 2
    with Warehouse(home.warehouse_path).read() as con:
        stored = " ".join(
            str(v) for row in con.execute("SELECT * FROM alert_deliveries").fetchall() for v in row
        )
    for secret in ("TOKEN-abc", "TOKEN-xyz", "sig-key"):
        assert secret not in stored


def test_a_gap_that_closes_and_opens_again_alerts_again(home, spec, http_server) -> None:
    spec = with_alerts(home, spec, **_routes(http_server.url))
    env = {"CHANNEL": http_server.url, "PAGER": http_server.url, "PAGER_SECRET": "x"}.get
    hour = timedelta(hours=1)
    notify_report(home, spec, _report(_gap("warn")), None, env, T0)
    notify_report(home, spec, _report(report_id="r2"), None, env, T0 + hour)
    again = notify_report(
        home, spec, _report(_gap("warn"), report_id="r3"), None, env, T0 + 2 * hour
    )
    assert again.queued == 1
    bodies = [r["body"].decode() for r in http_server.requests]
    assert ["1 new gap(s)" in b for b in bodies] == [True, False, True]
    assert "1 resolved gap(s)" in bodies[1]
    with Warehouse(home.warehouse_path).read() as con:
        assert con.execute("SELECT count(*) FROM alert_state").fetchone() == (1,)
