"""The feedback step: the next version from a report's changes, proposed or accepted at once."""

from __future__ import annotations

import pytest

from validation_loop.feedback.propose import propose_next
from validation_loop.feedback.versions import current_version, load_config, save_config
from validation_loop_tests.feedback.test_versions import _config


def _report(version: str, changes: list[dict]) -> dict:
    return {
        "generator_version": version,
        "report_id": "r1",
        "recommendations": [{"changes": changes}],
    }


CHANGE = {
    "path": ["duplicate_rate"],
    "old": 0.2,
    "new": 0.0,
    "gap": {"kind": "diversity", "metric": "duplicate_rate_excess", "severity": "error"},
    "effect": "rows stop repeating earlier rows",
}


@pytest.fixture
def layout(home, spec):
    layout = home.loop("churn")
    config = _config("v0001")
    config.duplicate_rate = 0.2
    save_config(layout, config)
    return layout


def test_propose_writes_the_next_version_once(home, spec, layout) -> None:
    proposal = propose_next(home, spec, _report("v0001", [CHANGE]))
    assert (proposal.version, proposal.changes, proposal.accepted) == ("v0002", 1, False)
    assert current_version(layout) == "v0001"
    written = load_config(layout, "v0002")
    assert written.duplicate_rate == 0.0 and written.parent == "v0001"
    assert written.report_id == "r1"
    (entry,) = written.changelog
    assert (entry.old, entry.new, entry.gap["metric"]) == (0.2, 0.0, "duplicate_rate_excess")
    again = propose_next(home, spec, _report("v0001", [CHANGE]))
    assert (again.version, again.changes, again.reason) == ("v0002", 0, "v0002 already proposed")


def test_auto_mode_accepts_at_once(home, spec, layout) -> None:
    auto = spec.model_copy(update={"feedback": spec.feedback.model_copy(update={"mode": "auto"})})
    proposal = propose_next(home, auto, _report("v0001", [CHANGE]))
    assert proposal.accepted and current_version(layout) == "v0002"


@pytest.mark.parametrize(
    ("version", "changes", "reason"),
    [
        ("v0009", [CHANGE], "no reference generator config made these batches"),
        ("v3", [CHANGE], "no reference generator config made these batches"),
        (None, [CHANGE], "no reference generator config made these batches"),
        ("v0001", [], "no gap maps to a config change"),
    ],
)
def test_nothing_to_propose(home, spec, layout, version, changes, reason) -> None:
    proposal = propose_next(home, spec, _report(version, changes))
    assert proposal.version is None and proposal.reason == reason


def test_a_report_on_an_older_version_proposes_nothing(home, spec, layout) -> None:
    save_config(layout, _config("v0002"))
    from validation_loop.feedback.versions import accept

    accept(layout, "v0002")
    proposal = propose_next(home, spec, _report("v0001", [CHANGE]))
    assert proposal.version is None and "current is v0002" in proposal.reason


def test_after_a_rollback_new_proposals_are_not_blocked(home, spec, layout) -> None:
    from validation_loop.feedback.versions import accept, proposals

    assert propose_next(home, spec, _report("v0001", [CHANGE])).version == "v0002"
    accept(layout, "v0002")
    accept(layout, "v0001")  # roll back
    assert proposals(layout) == []  # v0002 is history, not a proposal
    again = propose_next(home, spec, _report("v0001", [CHANGE]))
    assert (again.version, again.reason) == ("v0003", "proposed")
