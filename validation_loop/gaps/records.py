"""Gap records, and how a finding gets its severity.

A metric module yields `Finding`s: a value, a p-value where the metric has a test, and the rule
(warn and error thresholds) that can make it a gap. `grade` controls the false discovery rate
over all p-values of one report, with each kind of gap as a family (so the few model tests are
not drowned by hundreds of pair tests), and turns findings into `GapRecord`s: a finding is a gap
only when its effect crosses a threshold *and* its q-value is small enough (`fdr_alpha` for a
warn, the stricter `fdr_alpha_error` for an error), so a small batch cannot prove a small gap
and a huge batch does not flag a trivial one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from validation_loop.gaps.significance import two_level_fdr
from validation_loop.gaps.thresholds import Severity, resolve_rules

SEVERITY_ORDER: dict[str, int] = {"info": 0, "warn": 1, "error": 2}


@dataclass(frozen=True)
class Finding:
    """One computed metric before grading: what, where, how much, how sure."""

    kind: str
    metric: str
    columns: tuple[str, ...]
    value: float
    summary: str
    action: str = ""
    p_value: float | None = None
    rule: str | None = None
    slice: dict[str, Any] | None = None
    effect: float | None = None
    test_key: str | None = None


@dataclass(frozen=True)
class GapRecord:
    """A graded metric: the record shape every report, table and alert uses."""

    kind: str
    metric: str
    columns: list[str]
    slice: dict[str, Any] | None
    value: float | None
    threshold: float | None
    p_value: float | None
    q_value: float | None
    severity: Severity
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready mapping (NaN becomes null)."""
        data = asdict(self)
        for key in ("value", "threshold", "p_value", "q_value"):
            if isinstance(data[key], float) and not math.isfinite(data[key]):
                data[key] = None
        return data

    @property
    def is_gap(self) -> bool:
        """Warn or error."""
        return self.severity != "info"


def _fmt(value: float) -> str:
    """A number for a sentence."""
    if math.isnan(value):
        return "n/a"
    return f"{value:.3g}"


def grade(findings: list[Finding], overrides: dict[str, float]) -> list[GapRecord]:
    """Apply the two-level FDR (families by kind) across all tests of one report, then
    thresholds; return records.

    Findings that share a `test_key` are effect sizes of one test: it counts once in the FDR.
    """
    rules, alpha, alpha_error = resolve_rules(overrides)
    tests: dict[str, tuple[float, str]] = {}
    for index, finding in enumerate(findings):
        if finding.p_value is not None and not math.isnan(finding.p_value):
            tests.setdefault(finding.test_key or f"#{index}", (finding.p_value, finding.kind))
    q_values = two_level_fdr([p for p, _ in tests.values()], [k for _, k in tests.values()])
    q_by_test = dict(zip(tests, q_values, strict=True))
    records = []
    for index, finding in enumerate(findings):
        q = q_by_test.get(finding.test_key or f"#{index}")
        if finding.p_value is None or math.isnan(finding.p_value):
            q = None
        rule = rules[finding.rule] if finding.rule else None
        effect = finding.value if finding.effect is None else finding.effect
        level: Severity = rule.level(effect) if rule else "info"
        severity: Severity = level if q is not None and q <= alpha else "info"
        if severity == "error" and q is not None and q > alpha_error:
            severity = "warn"
        threshold = None
        if rule is not None:
            threshold = rule.error if severity == "error" else rule.warn
        message = finding.summary
        if severity != "info" and rule is not None:
            side = "above" if rule.higher_is_worse else "below"
            message += (
                f" ({_fmt(effect)} is {side} the {severity} threshold {_fmt(threshold or 0)}, "
                f"q={q:.2g})"
            )
            if finding.action:
                message += f"; {finding.action}"
        elif rule is not None and level != "info":
            message += f" (not significant at this sample size, q={_fmt(q or math.nan)})"
        records.append(
            GapRecord(
                kind=finding.kind,
                metric=finding.metric,
                columns=list(finding.columns),
                slice=finding.slice,
                value=finding.value,
                threshold=threshold,
                p_value=finding.p_value,
                q_value=q,
                severity=severity,
                message=message + ".",
            )
        )
    return records
