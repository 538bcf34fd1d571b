"""What an alert says, and how it looks in Slack, Teams, a signed JSON webhook and an email.

An `Alert` carries everything a person needs: the loop, each gap's kind, columns or slice,
value against threshold, since when, and links to the report and the Dagster run. It never
carries an endpoint or a secret, so it can be stored and shown as it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from validation_loop.alerts.events import GapEvent
from validation_loop.render.markdown import one_line

ALERT_SCHEMA = "validation-loop/alert/v1"
SLACK_TEXT_LIMIT = 2900
EVENT_WORDS = {
    "opened": "new",
    "escalated": "worse",
    "reminder": "still open",
    "resolved": "resolved",
}


def _number(value: Any) -> str:
    """A value for a sentence."""
    return "n/a" if value is None else f"{value:.3g}"


@dataclass(frozen=True)
class AlertItem:
    """One gap in an alert."""

    event: str
    severity: str
    kind: str
    metric: str
    columns: list[str]
    slice: dict[str, Any] | None
    value: float | None
    threshold: float | None
    since: str
    message: str

    @classmethod
    def of(cls, event: GapEvent) -> AlertItem:
        """The item for a gap event."""
        record = event.record
        return cls(
            event=event.event,
            severity=event.severity,
            kind=record["kind"],
            metric=record["metric"],
            columns=list(record["columns"]),
            slice=record.get("slice"),
            value=record.get("value"),
            threshold=record.get("threshold"),
            since=event.since.isoformat(),
            message=record["message"],
        )

    def line(self) -> str:
        """One line of plain text; a line break in a column name or slice value is written as
        `\\n`, so no name can start a line of its own (a forged `[ERROR]` line, say)."""
        where = ", ".join(self.columns)
        if self.slice:
            where += " in " + ", ".join(f"{k}={v}" for k, v in self.slice.items())
        where = one_line(where)
        return (
            f"[{self.severity.upper()}] {EVENT_WORDS.get(self.event, self.event)}: "
            f"{self.kind} {self.metric} on {where}: {_number(self.value)} against threshold "
            f"{_number(self.threshold)} (since {self.since[:16].replace('T', ' ')} UTC)"
        )


@dataclass(frozen=True)
class Alert:
    """One message: a digest of gap events, a run failure, or a test."""

    loop: str
    event: str  # gaps | run_failure | test
    severity: str
    title: str
    summary: str
    created_at: str
    items: list[AlertItem] = field(default_factory=list)
    more: int = 0
    report_url: str | None = None
    run_url: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The alert as JSON-ready data (the generic webhook's body)."""
        data = asdict(self)
        return {"schema": ALERT_SCHEMA, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        """The alert back from its stored form."""
        fields = {k: v for k, v in data.items() if k != "schema"}
        fields["items"] = [AlertItem(**item) for item in fields.get("items", [])]
        return cls(**fields)

    def text(self) -> str:
        """Plain text: title, summary, one line per gap, links."""
        lines = [self.title, "", self.summary]
        if self.items:
            lines += ["", *(item.line() for item in self.items)]
        if self.more:
            lines.append(f"... and {self.more} more (see the report)")
        lines += ["", *self._links_text()]
        return "\n".join(lines).rstrip() + "\n"

    def _links_text(self) -> list[str]:
        """The links as `name: url` lines."""
        return [
            f"{name}: {url}"
            for name, url in (("Report", self.report_url), ("Dagster run", self.run_url))
            if url
        ]


def gap_alert(
    loop: str,
    events: list[GapEvent],
    now: datetime,
    report: dict[str, Any],
    report_url: str | None,
    run_url: str | None,
    max_items: int,
) -> Alert:
    """A digest of one report's gap events for one route."""
    order = {"escalated": 0, "opened": 1, "reminder": 2, "resolved": 3}
    rank = {"error": 0, "warn": 1, "info": 2}
    events = sorted(events, key=lambda e: (order[e.event], rank.get(e.severity, 2)))
    counts: dict[str, int] = {}
    for event in events:
        counts[event.event] = counts.get(event.event, 0) + 1
    open_events = [e for e in events if e.event != "resolved"]
    severity = "error" if any(e.severity == "error" for e in open_events) else "warn"
    if not open_events:
        severity = "info"
    parts = [f"{n} {EVENT_WORDS[k]}" for k, n in counts.items()]
    score = report.get("score")
    summary = (
        f"Gap report {report['report_id']} of loop {loop} against generator "
        f"{report.get('generator_version') or '(unversioned)'}: "
        f"{report['counts']['error']} error and {report['counts']['warn']} warn gaps"
        + (f", score {score:.3f}" if score is not None else "")
        + "."
    )
    return Alert(
        loop=loop,
        event="gaps",
        severity=severity,
        title=f"validation_loop: loop {loop}: " + ", ".join(parts) + " gap(s)",
        summary=summary,
        created_at=now.isoformat(),
        items=[AlertItem.of(e) for e in events[:max_items]],
        more=max(0, len(events) - max_items),
        report_url=report_url,
        run_url=run_url,
        details={"generator_version": report.get("generator_version"), "score": score},
    )


def slack_text(text: str) -> str:
    """Text for a Slack `mrkdwn` field, shown as written: Slack reads `<...>` as a link or a
    mention (`<!channel>` would page a whole channel) and `&` as an entity, so the three are
    escaped as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str, name: str) -> str:
    """A Slack link; the URL's own `&<>|` cannot end it early."""
    return f"<{slack_text(url).replace('|', '%7C')}|{name}>"


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook message in Block Kit (with a plain `text` fallback); text from
    data (column names, slice values, versions) is escaped, so it can neither link nor mention."""
    icon = {"error": ":red_circle:", "warn": ":large_orange_circle:"}.get(
        alert.severity, ":white_check_mark:"
    )
    lines = [f"• {slack_text(item.line())}" for item in alert.items]
    if alert.more:
        lines.append(f"… and {alert.more} more")
    body = "\n".join(lines)
    if len(body) > SLACK_TEXT_LIMIT:
        # cut, without leaving half an entity (`&am`) at the end
        body = re.sub(r"&[a-z]{0,3}$", "", body[: SLACK_TEXT_LIMIT - 1]) + "…"
    summary = slack_text(alert.summary)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} {summary}"}},
    ]
    if body:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
    links = [
        _slack_link(url, name)
        for name, url in (("Open the report", alert.report_url), ("Dagster run", alert.run_url))
        if url
    ]
    if links:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]}
        )
    return {"text": f"{slack_text(alert.title)}: {summary}", "blocks": blocks}


def teams_text(text: str) -> str:
    """Text for an Adaptive Card TextBlock, which renders Markdown links: a zero-width space
    between `]` and `(` keeps a name like `[click](https://...)` from becoming one (renderers
    differ on backslash escapes; every one needs the two characters side by side)."""
    return text.replace("](", "]\u200b(")


def teams_payload(alert: Alert) -> dict[str, Any]:
    """A Microsoft Teams webhook message carrying an Adaptive Card; text from data cannot
    form a link."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "size": "Medium",
            "weight": "Bolder",
            "text": alert.title,
            "wrap": True,
        },
        {"type": "TextBlock", "text": teams_text(alert.summary), "wrap": True},
    ]
    body += [
        {"type": "TextBlock", "text": teams_text(item.line()), "wrap": True} for item in alert.items
    ]
    if alert.more:
        body.append({"type": "TextBlock", "text": f"… and {alert.more} more", "wrap": True})
    actions = [
        {"type": "Action.OpenUrl", "title": name, "url": url}
        for name, url in (("Open the report", alert.report_url), ("Dagster run", alert.run_url))
        if url and url.startswith("http")
    ]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": actions,
    }
    if alert.report_url and not alert.report_url.startswith("http"):
        body.append({"type": "TextBlock", "text": f"Report: {alert.report_url}", "wrap": True})
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def webhook_body(alert: Alert) -> bytes:
    """The generic webhook's JSON body (the bytes that are signed)."""
    return json.dumps(alert.to_dict(), sort_keys=True, separators=(",", ":")).encode("utf-8")


def email_message(alert: Alert, sender: str, recipients: list[str]) -> EmailMessage:
    """A plain-text email."""
    message = EmailMessage()
    message["Subject"] = alert.title
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message.set_content(alert.text())
    return message
