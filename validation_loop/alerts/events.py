"""Which gaps deserve a message: new, worse, still open after the re-notify interval, or closed.

State per gap (kept in DuckDB's `alert_state` by the dispatcher): its latest record, its
severity, the worst severity it reached, when it opened and when it was last notified. A gap is
identified by kind, metric, columns and slice (collapse gaps without the version list, which
grows every version).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from validation_loop.gaps.records import SEVERITY_ORDER

EventKind = Literal["opened", "escalated", "reminder", "resolved"]


@dataclass(frozen=True)
class OpenGap:
    """An open gap as the alert state remembers it."""

    key: str
    record: dict[str, Any]
    severity: str
    max_severity: str
    opened_at: datetime
    last_notified_at: datetime


@dataclass(frozen=True)
class GapEvent:
    """A change worth telling someone about."""

    event: EventKind
    key: str
    record: dict[str, Any]
    severity: str  # now; for `resolved`, the worst it reached
    since: datetime
    previous: str | None = None


def gap_key(record: dict[str, Any]) -> str:
    """The identity of a gap across reports."""
    where = None if record["kind"] == "collapse" else record.get("slice")
    return json.dumps(
        [record["kind"], record["metric"], list(record["columns"]), where], sort_keys=True
    )


def diff_gaps(
    open_gaps: dict[str, OpenGap],
    gaps: list[dict[str, Any]],
    now: datetime,
    renotify: timedelta,
) -> tuple[list[GapEvent], dict[str, OpenGap]]:
    """The events between the open gaps and a report's gaps, and the open gaps afterwards.

    New gap: `opened`. Higher severity than before: `escalated`. Unchanged for `renotify` since
    the last message: `reminder`. Gone from the report: `resolved` (once). A gap whose severity
    falls is updated silently.
    """
    events: list[GapEvent] = []
    after: dict[str, OpenGap] = {}
    for record in gaps:
        key = gap_key(record)
        severity = record["severity"]
        known = open_gaps.get(key)
        if key in after:
            continue
        if known is None:
            events.append(GapEvent("opened", key, record, severity, now))
            after[key] = OpenGap(key, record, severity, severity, now, now)
            continue
        worst = max(known.max_severity, severity, key=SEVERITY_ORDER.__getitem__)
        if SEVERITY_ORDER[severity] > SEVERITY_ORDER[known.severity]:
            events.append(
                GapEvent("escalated", key, record, severity, known.opened_at, known.severity)
            )
            after[key] = replace(
                known, record=record, severity=severity, max_severity=worst, last_notified_at=now
            )
        elif now - known.last_notified_at >= renotify:
            events.append(GapEvent("reminder", key, record, severity, known.opened_at))
            after[key] = replace(known, record=record, severity=severity, last_notified_at=now)
        else:
            after[key] = replace(known, record=record, severity=severity, max_severity=worst)
    for key, known in open_gaps.items():
        if key not in after:
            events.append(
                GapEvent("resolved", key, known.record, known.max_severity, known.opened_at)
            )
    return events, after
