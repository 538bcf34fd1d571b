"""Grading: FDR across a report, effect thresholds, overrides."""

from __future__ import annotations

import pytest
from statsmodels.stats.multitest import multipletests

from validation_loop.errors import SpecError
from validation_loop.gaps.records import Finding, grade
from validation_loop.gaps.significance import benjamini_hochberg
from validation_loop.gaps.thresholds import RULES, resolve_rules
from validation_loop.spec import parse_spec
from validation_loop_tests.conftest import SPEC


def test_benjamini_hochberg_matches_statsmodels() -> None:
    p = [0.001, 0.04, 0.03, 0.2, 0.011, 0.5, 0.0004]
    assert benjamini_hochberg(p) == pytest.approx(multipletests(p, method="fdr_bh")[1].tolist())


def _finding(value: float, p: float | None, key: str | None = None) -> Finding:
    return Finding(
        "marginal",
        "ks",
        ("x",),
        value,
        "KS of 'x' is high",
        "fix x",
        p,
        "marginal.ks",
        test_key=key,
    )


def test_gap_needs_both_effect_and_significance() -> None:
    big_sure, big_unsure, small_sure = grade(
        [_finding(0.3, 1e-9), _finding(0.3, 0.2), _finding(0.01, 1e-12)], {}
    )
    assert big_sure.severity == "error" and big_sure.threshold == RULES["marginal.ks"].error
    assert "above the error threshold 0.2" in big_sure.message
    assert big_unsure.severity == "info"
    assert "not significant at this sample size" in big_unsure.message
    assert small_sure.severity == "info"


def test_error_needs_stronger_evidence() -> None:
    (record,) = grade([_finding(0.3, 0.03)], {})
    assert record.severity == "warn"
    assert "warn threshold 0.1" in record.message


def test_many_tests_raise_the_bar() -> None:
    alone = grade([_finding(0.15, 0.01)], {})
    crowded = grade([_finding(0.15, 0.01), *(_finding(0.0, 0.9) for _ in range(99))], {})
    assert alone[0].severity == "warn"
    assert crowded[0].severity == "info"
    assert crowded[0].q_value == pytest.approx(0.9)


def test_shared_test_counts_once() -> None:
    records = grade([_finding(0.15, 0.01, "k"), _finding(0.15, 0.01, "k")], {})
    assert [r.q_value for r in records] == [0.01, 0.01]


def test_overrides_and_unknown_names() -> None:
    rules, alpha, alpha_error = resolve_rules({"marginal.ks.warn": 0.05, "fdr_alpha": 0.01})
    assert (rules["marginal.ks"].warn, alpha, alpha_error) == (0.05, 0.01, 0.01)
    assert grade([_finding(0.07, 0.001)], {"marginal.ks.warn": 0.05})[0].severity == "warn"
    with pytest.raises(SpecError, match=r"unknown threshold marginal\.kss\.warn"):
        parse_spec({**SPEC, "thresholds": {"marginal.kss.warn": 0.1}}, "x")


def test_lower_is_worse_rule() -> None:
    rule = RULES["coverage.share_ratio_low"]
    assert [rule.level(v) for v in (1.0, 0.4, 0.1)] == ["info", "warn", "error"]
