"""Write the next generator config version from a gap report, and accept proposals.

The report's recommendations carry the config changes; the next version is the config that
made the compared batches with those changes applied, one changelog entry per change. In
`propose` mode it waits for a person; in `auto` mode it becomes current at once. A report
whose version is not the current one, or whose current version already has a proposal
waiting, writes nothing (no pile of competing proposals).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from validation_loop.feedback.generator import Change
from validation_loop.feedback.mapping import apply_changes
from validation_loop.feedback.versions import (
    accept,
    config_path,
    current_version,
    is_version,
    load_config,
    next_version,
    proposals,
    save_config,
)
from validation_loop.home import Home
from validation_loop.locks import file_lock
from validation_loop.spec import LoopSpec

PROPOSE_LOCK_SECONDS = 120


@dataclass(frozen=True)
class Proposal:
    """What the feedback step did: the version written (or waiting), and why."""

    version: str | None
    path: Path | None
    changes: int
    accepted: bool
    reason: str


def propose_next(home: Home, spec: LoopSpec, report: dict[str, Any]) -> Proposal:
    """The next config version from the report's changes (accepted at once in `auto` mode)."""
    layout = home.loop(spec.name)
    version = report["generator_version"]
    if not is_version(version) or not config_path(layout, version).is_file():
        return Proposal(None, None, 0, False, "no reference generator config made these batches")
    layout.generator.mkdir(parents=True, exist_ok=True)
    lock = layout.generator / ".propose.lock"
    with file_lock(lock, exclusive=True, timeout=PROPOSE_LOCK_SECONDS, holder=str(lock)):
        return _propose(home, spec, report, version)


def _propose(home: Home, spec: LoopSpec, report: dict[str, Any], version: str) -> Proposal:
    """`propose_next` under the loop's proposal lock."""
    layout = home.loop(spec.name)
    current = current_version(layout)
    if version != current:
        return Proposal(None, None, 0, False, f"the report is on {version}, current is {current}")
    waiting = [v for v in proposals(layout) if load_config(layout, v).parent == version]
    if waiting:
        path = config_path(layout, waiting[-1])
        if spec.feedback.mode == "auto":  # written, but the run ended before accepting it
            accept(layout, waiting[-1], by="auto")
            return Proposal(waiting[-1], path, 0, True, "accepted (auto mode)")
        return Proposal(waiting[-1], path, 0, False, f"{waiting[-1]} already proposed")
    changes = [
        Change.model_validate(c) for rec in report["recommendations"] for c in rec["changes"]
    ]
    if not changes:
        return Proposal(None, None, 0, False, "no gap maps to a config change")
    config = apply_changes(
        load_config(layout, version),
        changes,
        next_version(layout),
        report["report_id"],
        datetime.now(UTC).isoformat(),
    )
    path = save_config(layout, config)
    accepted = spec.feedback.mode == "auto"
    if accepted:
        accept(layout, config.version, by="auto")
    state = "accepted (auto mode)" if accepted else "proposed"
    return Proposal(config.version, path, len(changes), accepted, state)
