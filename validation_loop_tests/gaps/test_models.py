"""Model gaps on scikit-learn's bundled data: detection and train-on-synthetic utility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from validation_loop.demo import demo_frame
from validation_loop_tests.gaps.conftest import make_spec, run_gaps

MODELS = {"detection_rows": 2000, "utility_rows": 3000, "bootstrap": 50}


def _records(result, kind):
    return [r for r in result.records if r.kind == kind]


def _cancer() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 4, 6, 7, 20, 21, 27, 30]]
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    return frame


def test_random_halves_are_indistinguishable_and_equally_useful() -> None:
    frame = _cancer().sample(frac=1.0, random_state=0).reset_index(drop=True)
    spec = make_spec(frame, "target", models=MODELS)
    result = run_gaps(spec, frame.iloc[:284], frame.iloc[284:])
    (auc,) = [r for r in result.records if r.metric == "detection_auc"]
    assert abs(auc.value - 0.5) < 0.1 and auc.severity == "info"
    assert [r for r in _records(result, "utility") if r.severity == "error"] == []


def test_noise_column_is_named_by_detection() -> None:
    frame = load_wine(as_frame=True).frame
    rng = np.random.default_rng(0)
    human, synthetic = frame.iloc[::2].copy(), frame.iloc[1::2].copy()
    synthetic["proline"] = rng.uniform(0, 5000, len(synthetic))
    result = run_gaps(make_spec(frame, "target", models=MODELS), human, synthetic)
    (auc,) = [r for r in result.records if r.metric == "detection_auc"]
    assert auc.value > 0.75 and auc.severity == "error"
    assert "give synthetic away: proline" in auc.message
    top = max(
        _records(result, "detection"),
        key=lambda r: r.value if r.metric == "detection_importance" else -1,
    )
    assert top.columns == ["proline"]


def test_scrambled_labels_in_one_slice_give_a_utility_gap_there() -> None:
    frame = demo_frame().drop(columns=["person_id"]).sample(frac=1.0, random_state=1)
    human, synthetic = frame.iloc[:3000].copy(), frame.iloc[3000:].copy()
    married = synthetic["marital_status"] == "Married-civ-spouse"
    rng = np.random.default_rng(2)
    synthetic.loc[married, "income"] = rng.permutation(
        np.where(synthetic.loc[married, "income"] == ">50K", "<=50K", ">50K")
    )
    spec = make_spec(frame, "income", slices=["marital_status", "sex"], models=MODELS)
    result = run_gaps(spec, human.reset_index(drop=True), synthetic.reset_index(drop=True))
    ranked = [r for r in _records(result, "utility") if r.slice]  # by damage, worst first
    top = ranked[0]
    assert top.slice == {"marital_status": "Married-civ-spouse"} and top.severity == "error"
    assert "there: share" in top.message
    assert not any(r.is_gap for r in ranked if r.slice.get("marital_status") == "Never-married")


def test_custom_estimator_from_the_spec_is_used() -> None:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    spec = make_spec(
        frame,
        "target",
        task="regression",
        models={**MODELS, "estimator": "sklearn.linear_model:Ridge"},
    )
    result = run_gaps(spec, frame.iloc[::2], frame.iloc[1::2])
    gaps = {r.metric: r for r in _records(result, "utility")}
    assert "Ridge trained on synthetic" in gaps["r2_gap"].message
    assert {"r2_gap", "mae_gap", "rmse_gap"} <= set(gaps)


def test_one_class_synthetic_and_unseen_categories_do_not_crash() -> None:
    frame = demo_frame().drop(columns=["person_id"]).iloc[:1200]
    synthetic = frame.iloc[600:].assign(income="<=50K", workclass="Never-seen-before")
    spec = make_spec(frame, "income", models=MODELS)
    result = run_gaps(spec, frame.iloc[:600], synthetic)
    (gap,) = [r for r in result.records if r.metric == "balanced_accuracy_gap"]
    assert "constant (synthetic has one class" in gap.message
    assert gap.value > 0.1 and gap.is_gap


def test_model_gaps_are_deterministic() -> None:
    frame = _cancer()
    spec = make_spec(frame, "target", models=MODELS)
    first = run_gaps(spec, frame.iloc[::2], frame.iloc[1::2])
    second = run_gaps(spec, frame.iloc[::2], frame.iloc[1::2])
    values = [
        [r.value for r in res.records if r.kind in ("detection", "utility")]
        for res in (first, second)
    ]
    assert values[0] == pytest.approx(values[1])
