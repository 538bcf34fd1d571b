"""Each notifier against a real server on 127.0.0.1: payloads, signature, failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from validation_loop.alerts.events import GapEvent
from validation_loop.alerts.messages import gap_alert
from validation_loop.alerts.notifiers import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryError,
    send,
    verify,
)
from validation_loop.spec import RouteSpec
from validation_loop_tests.servers import free_port

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
RECORD = {
    "kind": "marginal",
    "metric": "ks",
    "columns": ["age"],
    "slice": None,
    "value": 0.31,
    "threshold": 0.2,
    "severity": "error",
    "message": "age: KS 0.31.",
}
REPORT = {
    "report_id": "20261121T080000-abc123",
    "generator_version": "v0003",
    "score": 0.8123,
    "counts": {"error": 1, "warn": 0, "info": 10},
}


def _alert():
    events = [
        GapEvent("opened", "k1", RECORD, "error", NOW),
        GapEvent(
            "resolved",
            "k2",
            {
                **RECORD,
                "kind": "bias",
                "metric": "group_outcome_gap",
                "columns": ["sex", "y"],
                "slice": {"sex": "f"},
                "severity": "warn",
            },
            "warn",
            NOW,
        ),
    ]
    return gap_alert(
        "churn",
        events,
        NOW,
        REPORT,
        "https://reports.example/churn/r.html",
        "http://127.0.0.1:3000/runs/run-1",
        20,
    )


def _route(kind: str, **fields) -> RouteSpec:
    return RouteSpec.model_validate({"name": f"{kind}-route", "type": kind, **fields})


def test_slack_block_kit_message(http_server) -> None:
    env = {"HOOK": http_server.url}
    send(_route("slack", url_env="HOOK"), _alert(), env.get, 5)
    payload = http_server.json()
    assert http_server.requests[0]["path"] == "/hooks/T000/SECRET-PATH"
    assert payload["text"].startswith("validation_loop: loop churn: 1 new, 1 resolved gap(s)")
    header, summary, body, context = payload["blocks"]
    assert header["type"] == "header"
    assert "score 0.812" in summary["text"]["text"] and "generator v0003" in summary["text"]["text"]
    lines = body["text"]["text"]
    assert (
        "[ERROR] new: marginal ks on age: 0.31 against threshold 0.2 (since 2026-11-21 08:00"
        in lines
    )
    assert "[WARN] resolved: bias group_outcome_gap on sex, y in sex=f" in lines
    assert (
        "<https://reports.example/churn/r.html|Open the report>" in context["elements"][0]["text"]
    )
    assert "runs/run-1|Dagster run>" in context["elements"][0]["text"]


def test_teams_adaptive_card(http_server) -> None:
    send(_route("teams", url_env="HOOK"), _alert(), {"HOOK": http_server.url}.get, 5)
    payload = http_server.json()
    (attachment,) = payload["attachments"]
    card = attachment["content"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["type"] == "AdaptiveCard" and card["body"][0]["text"].startswith("validation_loop")
    assert any("marginal ks on age" in block["text"] for block in card["body"])
    assert {a["title"] for a in card["actions"]} == {"Open the report", "Dagster run"}


def test_webhook_is_signed_with_hmac_sha256(http_server) -> None:
    env = {"HOOK": http_server.url, "SECRET": "s3cret"}
    send(_route("webhook", url_env="HOOK", secret_env="SECRET"), _alert(), env.get, 5)
    request = http_server.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    timestamp = headers[TIMESTAMP_HEADER.lower()]
    signature = headers[SIGNATURE_HEADER.lower()]
    assert signature.startswith("sha256=")
    assert verify("s3cret", timestamp, request["body"], signature)
    assert not verify("wrong", timestamp, request["body"], signature)
    assert not verify("s3cret", timestamp, request["body"] + b" ", signature)
    body = json.loads(request["body"])
    assert body["schema"] == "validation-loop/alert/v1" and body["loop"] == "churn"
    assert body["items"][0]["value"] == 0.31 and body["items"][0]["threshold"] == 0.2
    assert "s3cret" not in request["body"].decode()


def test_email_over_starttls_with_login(smtp_server) -> None:
    route = _route(
        "email",
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        starttls=True,
        ca_file=str(smtp_server.ca_file),
        username_env="SMTP_USER",
        password_env="SMTP_PASSWORD",
        sender="loop@example.com",
        recipients=["ml@example.com", "oncall@example.com"],
    )
    send(route, _alert(), {"SMTP_USER": "loop", "SMTP_PASSWORD": "pw-123"}.get, 5)
    (message,) = smtp_server.messages
    assert message["tls"] and message["to"] == ["ml@example.com", "oncall@example.com"]
    assert "Subject: validation_loop: loop churn: 1 new, 1 resolved gap(s)" in message["data"]
    assert "marginal ks on age: 0.31 against threshold 0.2" in message["data"]
    assert "Report: https://reports.example/churn/r.html" in message["data"]
    with pytest.raises(DeliveryError, match=r"route email-route: SMTP ") as caught:
        send(route, _alert(), {"SMTP_USER": "loop", "SMTP_PASSWORD": "wrong-pw"}.get, 5)
    assert "wrong-pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("answer", "reason"), [(500, "HTTP 500"), (404, "HTTP 404"), (("sleep", 1.5), "timed out")]
)
def test_http_failures_name_the_reason_not_the_url(http_server, answer, reason) -> None:
    http_server.answers = [answer]
    with pytest.raises(DeliveryError, match=reason) as caught:
        send(_route("slack", url_env="HOOK"), _alert(), {"HOOK": http_server.url}.get, 0.5)
    assert "SECRET-PATH" not in str(caught.value) and "127.0.0.1" not in str(caught.value)


def test_refused_connection_and_missing_variable() -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks/SECRET-PATH"
    with pytest.raises(DeliveryError, match="connection refused") as caught:
        send(_route("slack", url_env="HOOK"), _alert(), {"HOOK": url}.get, 2)
    assert "SECRET-PATH" not in str(caught.value)
    with pytest.raises(DeliveryError, match=r"variable HOOK \(webhook URL\) is not set"):
        send(_route("slack", url_env="HOOK"), _alert(), {}.get, 2)
