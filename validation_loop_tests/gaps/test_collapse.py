"""Collapse across generator versions: a real, steady fall is a gap; a wobble is not."""

from __future__ import annotations

from validation_loop.gaps.collapse import VersionValue, collapse_records, series_from_rows


def _series(*points: tuple[str, float, float | None]) -> list[VersionValue]:
    return [VersionValue(v, value, q) for v, value, q in points]


def test_steady_significant_fall_is_a_collapse_gap() -> None:
    history = {
        ("entropy_ratio", ("workclass",)): _series(
            ("v0001", 0.99, 0.8), ("v0002", 0.9, 0.01), ("v0003", 0.7, 1e-6)
        )
    }
    (record,) = collapse_records(history, {})
    assert record.kind == "collapse" and record.metric == "entropy_ratio_drop"
    assert record.columns == ["workclass"] and record.severity == "error"
    assert record.value == 0.29 and record.threshold == 0.2
    assert record.slice == {"versions": ["v0001", "v0002", "v0003"]}
    assert "at every version" in record.message and "v0001 0.99 -> v0002 0.9" in record.message


def test_fall_without_evidence_or_small_fall_is_info() -> None:
    history = {
        ("iqr_ratio", ("age",)): _series(("v0001", 1.0, 0.5), ("v0002", 0.7, 0.2)),
        ("range_coverage", ("age",)): _series(("v0001", 1.0, 0.5), ("v0002", 0.95, 1e-9)),
        ("tail_span_ratio", ("age",)): _series(("v0001", 1.4, 1e-9), ("v0002", 1.05, 0.5)),
    }
    records = {r.metric: r for r in collapse_records(history, {})}
    assert {r.severity for r in records.values()} == {"info"}
    assert records["tail_span_ratio_drop"].value == 0  # inflation that shrinks is no collapse


def test_one_version_is_not_a_trend_and_rows_group_by_metric() -> None:
    rows = [
        {
            "generator_version": "v1",
            "metric": "entropy_ratio",
            "columns": ["a"],
            "value": 0.9,
            "q_value": 0.1,
        },
        {"generator_version": "v1", "metric": "ks", "columns": ["a"], "value": 0.5, "q_value": 0},
        {
            "generator_version": "v2",
            "metric": "entropy_ratio",
            "columns": ["b"],
            "value": 0.5,
            "q_value": 0.0,
        },
    ]
    history = series_from_rows(rows)
    assert set(history) == {("entropy_ratio", ("a",)), ("entropy_ratio", ("b",))}
    assert collapse_records(history, {}) == []


def test_a_value_without_a_test_needs_a_steady_fall_over_three_versions() -> None:
    two = {("category_coverage", ("c",)): _series(("v1", 1.0, None), ("v2", 0.6, None))}
    assert collapse_records(two, {})[0].severity == "info"
    three = {
        ("category_coverage", ("c",)): _series(
            ("v1", 1.0, None), ("v2", 0.6, None), ("v3", 0.3, None)
        )
    }
    (record,) = collapse_records(three, {})
    assert record.severity == "error" and record.value == 0.7
    wobble = {
        ("category_coverage", ("c",)): _series(
            ("v1", 1.0, None), ("v2", 0.5, None), ("v3", 0.6, None)
        )
    }
    assert collapse_records(wobble, {})[0].severity == "info"


def test_a_fall_from_a_later_peak_and_rising_duplicates_count() -> None:
    history = {
        ("entropy_ratio", ("c",)): _series(
            ("v1", 0.7, 0.5), ("v2", 0.98, 0.5), ("v3", 0.8, 0.01), ("v4", 0.6, 1e-6)
        ),
        ("duplicate_rate_excess", ("a", "b")): _series(("v1", 0.0, 0.9), ("v2", 0.25, 1e-9)),
    }
    records = {r.metric: r for r in collapse_records(history, {})}
    entropy = records["entropy_ratio_drop"]
    assert entropy.slice == {"versions": ["v2", "v3", "v4"]}
    assert entropy.value == 0.38 and entropy.severity == "error"
    duplicates = records["duplicate_rate_excess_drop"]
    assert duplicates.value == 0.25 and duplicates.severity == "error"
    assert duplicates.columns == ["a", "b"]
