"""No spam: a gap alerts when it opens, worsens, stays open past the interval, and closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from validation_loop.alerts.events import diff_gaps, gap_key

T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _gap(severity: str, metric: str = "ks", **extra) -> dict:
    return {
        "kind": "marginal",
        "metric": metric,
        "columns": ["age"],
        "slice": None,
        "value": 0.3,
        "threshold": 0.2,
        "severity": severity,
        "message": "m",
        **extra,
    }


def _events(state, gaps, now):
    events, after = diff_gaps(state, gaps, now, DAY)
    return [(e.event, e.severity) for e in events], after


def test_open_worsen_remind_resolve() -> None:
    events, state = _events({}, [_gap("warn")], T0)
    assert events == [("opened", "warn")]
    events, state = _events(state, [_gap("warn")], T0 + DAY / 2)
    assert events == []
    events, state = _events(state, [_gap("error")], T0 + DAY * 0.6)
    assert events == [("escalated", "error")]
    events, state = _events(state, [_gap("warn")], T0 + DAY)
    assert events == []  # better but still open: no message
    events, state = _events(state, [_gap("warn")], T0 + DAY * 1.7)
    assert events == [("reminder", "warn")]
    (open_gap,) = state.values()
    assert open_gap.opened_at == T0 and open_gap.max_severity == "error"
    events, state = _events(state, [], T0 + DAY * 2)
    assert events == [("resolved", "error")] and state == {}
    events, state = _events(state, [], T0 + DAY * 3)
    assert events == []


def test_keys_tell_gaps_apart_but_not_collapse_versions() -> None:
    a = _gap("warn", slice={"region": "north"})
    b = _gap("warn", slice={"region": "south"})
    assert gap_key(a) != gap_key(b)
    old = _gap(
        "warn", kind="collapse", metric="entropy_ratio_drop", slice={"versions": ["v1", "v2"]}
    )
    new = {**old, "slice": {"versions": ["v1", "v2", "v3"]}}
    assert gap_key(old) == gap_key(new)
