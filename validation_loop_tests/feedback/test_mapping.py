"""Gaps become recommendations and config changes; applied, the planted gaps close."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from validation_loop.demo import (
    BIASED_GROUP,
    DUPLICATE_RATE,
    MISSING_SLICE,
    SHIFT,
    SHIFTED_COLUMN,
    demo_frame,
    flawed_config,
)
from validation_loop.feedback.generator import fit_config, generate
from validation_loop.feedback.mapping import apply_changes, plan
from validation_loop_tests.gaps.conftest import make_spec, run_gaps


@pytest.fixture(scope="module")
def human() -> pd.DataFrame:
    return demo_frame().drop(columns=["person_id"])


@pytest.fixture(scope="module")
def spec(human):
    return make_spec(human, "income", slices=["workclass", "education"], sensitive=["sex", "race"])


@pytest.fixture(scope="module")
def target(human, spec):
    return fit_config(human, spec, rows=6000)


@pytest.fixture(scope="module")
def flawed(human, spec):
    return flawed_config(human, spec)


@pytest.fixture(scope="module")
def first_round(human, spec, flawed, target):
    records = [r.to_dict() for r in run_gaps(spec, human, generate(flawed)).records]
    return records, plan(records, flawed, target)


def _gap(records, kind, metric, **where):
    hits = [
        r
        for r in records
        if r["kind"] == kind and r["metric"] == metric and all(r[k] == v for k, v in where.items())
    ]
    assert len(hits) == 1, (kind, metric, where, len(hits))
    return hits[0]


def test_planted_flaws_show_up_as_gaps(first_round) -> None:
    records, _ = first_round
    missing = _gap(records, "coverage", "slice_share_ratio", slice={"workclass": MISSING_SLICE})
    assert missing["value"] == 0 and missing["severity"] == "error"
    assert _gap(records, "marginal", "ks", columns=[SHIFTED_COLUMN])["severity"] == "error"
    column, group = BIASED_GROUP
    assert _gap(records, "bias", "group_outcome_gap", slice={column: group})["severity"] != "info"
    assert _gap(records, "diversity", "duplicate_rate_excess")["severity"] == "error"


def test_every_gap_lands_in_one_recommendation(first_round) -> None:
    records, recommendations = first_round
    gaps = [r for r in records if r["severity"] != "info"]
    assigned = [g for rec in recommendations for g in rec.gaps]
    assert len(assigned) == len(gaps)
    keys = [rec.key for rec in recommendations]
    assert len(keys) == len(set(keys))


def test_changes_undo_each_planted_flaw(first_round, target) -> None:
    _, recommendations = first_round
    changes = {tuple(c.path): c for rec in recommendations for c in rec.changes}
    added = changes[("slice_weights", MISSING_SLICE)]
    assert added.old is None
    assert added.new == pytest.approx(target.slice_weights[MISSING_SLICE], abs=1e-5)
    assert ("columns", "hours_per_week", "marginals", MISSING_SLICE) in changes
    assert ("label_model", MISSING_SLICE) in changes
    shift = changes[("columns", SHIFTED_COLUMN, "marginals", "*", "shift")]
    assert (shift.old, shift.new) == (SHIFT, 0.0)
    assert "age" in shift.effect and shift.gap["kind"] in ("marginal", "coverage", "diversity")
    column, group = BIASED_GROUP
    rates = changes[("label_by_group", column, group)]
    assert rates.new == pytest.approx(target.label_by_group[column][group], abs=1e-5)
    assert changes[("duplicate_rate",)].old == DUPLICATE_RATE
    assert changes[("duplicate_rate",)].new == 0.0


def test_detection_and_unmappable_gaps_are_for_a_person() -> None:
    record = {
        "kind": "detection",
        "metric": "detection_auc",
        "columns": ["a", "b"],
        "slice": None,
        "value": 0.9,
        "threshold": 0.75,
        "severity": "error",
    }
    human = pd.DataFrame({"a": np.arange(50.0), "b": ["x", "y"] * 25, "y": ["p", "q"] * 25})
    small = make_spec(human, "y")
    config = fit_config(human, small, rows=100)
    (rec,) = plan([record], config, config)
    assert rec.action == "review" and not rec.changes
    assert rec.to_dict()["automated"] is False and "classifier" in rec.note


def test_bias_targets_never_invent_a_disparity() -> None:
    rng = np.random.default_rng(0)
    human = pd.DataFrame(
        {
            "x": rng.normal(size=4000),
            "sex": rng.choice(["f", "m"], 4000),
            "y": rng.choice(["no", "yes"], 4000, p=[0.7, 0.3]),
        }
    )
    spec = make_spec(human, "y", sensitive=["sex"])
    target = fit_config(human, spec, rows=4000)
    config = target.model_copy(deep=True)
    config.label_by_group["sex"]["f"] = {"no": 0.95, "yes": 0.05}
    records = [r.to_dict() for r in run_gaps(spec, human, generate(config)).records]
    changes = [c for rec in plan(records, config, target) for c in rec.changes]
    fixed = apply_changes(config, changes, "v0002", "r1", "2026-01-01T00:00:00+00:00")
    rates = fixed.label_by_group["sex"]
    assert abs(rates["f"]["yes"] - rates["m"]["yes"]) < 0.04  # human has none
    again = generate(fixed)
    by_group = again.groupby("sex")["y"].apply(lambda s: (s == "yes").mean())
    assert abs(by_group["f"] - by_group["m"]) < 0.04


def test_applied_changes_close_the_planted_gaps(human, spec, flawed, target, first_round) -> None:
    _, recommendations = first_round
    changes = [c for rec in recommendations for c in rec.changes]
    fixed = apply_changes(flawed, changes, "v0002", "r1", "2026-01-01T00:00:00+00:00")
    assert fixed.parent == "v0001" and fixed.version == "v0002" and fixed.report_id == "r1"
    assert len(fixed.changelog) == len(changes)
    assert np.linalg.eigvalsh(np.asarray(fixed.correlation)).min() > 0
    records = [r.to_dict() for r in run_gaps(spec, human, generate(fixed)).records]
    missing = _gap(records, "coverage", "slice_share_ratio", slice={"workclass": MISSING_SLICE})
    assert missing["severity"] == "info"
    assert _gap(records, "marginal", "ks", columns=[SHIFTED_COLUMN])["severity"] == "info"
    column, group = BIASED_GROUP
    assert _gap(records, "bias", "group_outcome_gap", slice={column: group})["severity"] == "info"
    assert _gap(records, "diversity", "duplicate_rate_excess")["severity"] == "info"
    before = sum(r["severity"] != "info" for r in first_round[0])
    assert sum(r["severity"] != "info" for r in records) < before / 2


def test_without_a_target_every_gap_is_for_a_person(first_round) -> None:
    records, _ = first_round
    recommendations = plan(records, None, None)
    assert {r.action for r in recommendations} == {"review"}
    assert sum(len(r.gaps) for r in recommendations) == sum(
        r["severity"] != "info" for r in records
    )
