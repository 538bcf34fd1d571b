"""The pair budget: which column pairs the pairwise checks test, and the report saying so."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from validation_loop.gaps.inputs import column_roles
from validation_loop.gaps.pairs import choose_pairs
from validation_loop_tests.gaps.conftest import make_spec, run_gaps


def _frame(rows: int = 800, seed: int = 0) -> pd.DataFrame:
    """12 numeric and 5 categorical columns: n0-n1 strongly correlated, c0 cut from n0, c1 a
    noisy copy of c0, the rest independent noise; `seg` a slice, `label` the label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"n{k}": rng.normal(size=rows) for k in range(12)})
    frame["n1"] = frame["n0"] + 0.1 * rng.normal(size=rows)
    frame["c0"] = np.where(frame["n0"] > 0, "hi", "lo")
    frame["c1"] = np.where(rng.random(rows) < 0.8, frame["c0"], "x")
    frame["c2"] = rng.choice(list("abcdefgh"), rows)
    frame["seg"] = rng.choice(["s1", "s2", "s3"], rows)
    frame["label"] = rng.choice(["yes", "no"], rows)
    return frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return _frame()


@pytest.fixture(scope="module")
def spec(frame):
    return make_spec(frame, "label", slices=["seg"])


def _pairs(plan) -> list[tuple[str, str]]:
    return [*plan.correlation, *plan.contingency]


def _is_priority(pair: tuple[str, str]) -> bool:
    return bool({"seg", "label"} & set(pair))


def test_below_the_budget_every_pair_is_tested_in_the_usual_order(frame, spec) -> None:
    columns = column_roles(spec)
    plan = choose_pairs(frame, columns, max_pairs=136)
    assert plan.correlation == list(combinations(columns.numeric, 2))
    assert plan.contingency == [
        *combinations(columns.categorical, 2),
        *((a, b) for a in columns.numeric for b in columns.categorical),
    ]
    assert (plan.candidates, plan.tested, plan.left_out) == (136, 136, 0)


def test_priority_pairs_come_first_then_the_strongest_association(frame, spec) -> None:
    columns = column_roles(spec)
    full = choose_pairs(frame, columns, max_pairs=136)
    priority = [p for p in _pairs(full) if _is_priority(p)]
    assert len(priority) == 31  # 136 pairs, 105 of them among the 15 plain columns

    plan = choose_pairs(frame, columns, max_pairs=32)
    assert plan.tested == 32 and plan.priority_tested == 31
    assert set(_pairs(plan)) == {*priority, ("n0", "n1")}
    # the chosen pairs keep the orientation and order of the full enumeration
    assert plan.correlation == [p for p in full.correlation if p in set(plan.correlation)]
    assert plan.contingency == [p for p in full.contingency if p in set(plan.contingency)]

    strong = {("n0", "n1"), ("c0", "c1"), ("n0", "c0"), ("n1", "c0"), ("n0", "c1"), ("n1", "c1")}
    plan = choose_pairs(frame, columns, max_pairs=31 + len(strong))
    assert {p for p in _pairs(plan) if not _is_priority(p)} == strong


def test_too_many_priority_pairs_share_the_budget_with_strong_ones(frame, spec) -> None:
    plan = choose_pairs(frame, column_roles(spec), max_pairs=10)
    pairs = _pairs(plan)
    assert len(pairs) == len(set(pairs)) == 10
    assert plan.priority_tested == 5 and sum(map(_is_priority, pairs)) == 5
    assert ("seg", "label") in pairs  # both columns special: first of all
    assert ("n0", "n1") in pairs


def test_the_report_says_how_many_pairs_were_left_out(frame, spec) -> None:
    synthetic = _frame(seed=1)
    everything = run_gaps(spec.model_copy(update={"max_pairs": 136}), frame, synthetic)
    default = run_gaps(spec, frame, synthetic)
    assert everything.records == default.records  # below the budget: nothing changes
    assert not [r for r in default.records if r.metric == "pairs_tested"]

    budget = run_gaps(spec.model_copy(update={"max_pairs": 40}), frame, synthetic)
    (note,) = [r for r in budget.records if r.metric == "pairs_tested"]
    assert (note.kind, note.severity, note.value) == ("pairwise", "info", 40)
    assert note.message.startswith("40 of 136 column pairs tested")
    assert "96 pairs left out" in note.message
    tested = {
        tuple(r.columns)
        for r in budget.records
        if r.metric in ("pearson_difference", "contingency_difference")
    }
    assert len(tested) == 40 and ("n0", "n1") in tested
