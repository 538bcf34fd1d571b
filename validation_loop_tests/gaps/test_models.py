"""Model gaps on scikit-learn's bundled data: detection and train-on-synthetic utility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_info

from validation_loop.demo import demo_frame
from validation_loop_tests.gaps.conftest import make_spec, run_gaps

FIT_THREADS: list[list[int]] = []  # what each ThreadRecorder.fit saw


class ThreadRecorder(HistGradientBoostingClassifier):
    """A user's estimator that notes the thread pools' sizes while it fits."""

    def fit(self, X, y, sample_weight=None):
        FIT_THREADS.append([pool["num_threads"] for pool in threadpool_info()])
        return super().fit(X, y, sample_weight)


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


def _sited_cancer(seed: int) -> pd.DataFrame:
    """Breast cancer data with a random three-valued `site` column, shuffled."""
    frame = _cancer()
    rng = np.random.default_rng(seed)
    frame["site"] = rng.choice(["north", "south", "east"], size=len(frame), p=[0.5, 0.3, 0.2])
    frame["target"] = np.where(frame["target"] == 1, "benign", "malignant")
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_thread_budget_holds_inside_the_model_fits(threads: int) -> None:
    frame = _cancer()
    spec = make_spec(
        frame,
        "target",
        resources={"threads": threads},
        models={**MODELS, "estimator": f"{__name__}:ThreadRecorder"},
    )
    FIT_THREADS.clear()
    run_gaps(spec, frame.iloc[::2], frame.iloc[1::2])
    assert FIT_THREADS and all(FIT_THREADS)  # the fits ran and saw OpenMP/BLAS pools
    # a few hundred rows: one thread per fit, whatever the budget (and never above it)
    assert {n for seen in FIT_THREADS for n in seen} == {1}


def test_scrambled_labels_in_one_slice_of_a_small_real_table_are_named() -> None:
    for seed in range(3):
        frame = _sited_cancer(seed)
        human, synthetic = frame.iloc[:284].copy(), frame.iloc[284:].copy()
        north = (synthetic["site"] == "north").to_numpy()
        rng = np.random.default_rng(seed)
        synthetic.loc[north, "target"] = rng.permutation(synthetic.loc[north, "target"].to_numpy())
        spec = make_spec(frame, "target", slices=["site"], models=MODELS)
        result = run_gaps(spec, human, synthetic.reset_index(drop=True))
        sites = [r for r in _records(result, "utility") if r.slice and set(r.slice) == {"site"}]
        assert sites[0].slice == {"site": "north"} and sites[0].severity == "error", seed
        assert not any(r.is_gap for r in sites[1:]), seed


def test_searched_slices_are_tested_on_the_other_half_of_the_rows() -> None:
    frame = _sited_cancer(0)
    human, synthetic = frame.iloc[:284].copy(), frame.iloc[284:].copy()
    north = (synthetic["site"] == "north").to_numpy()
    synthetic.loc[north, "target"] = "benign"
    result = run_gaps(make_spec(frame, "target", models=MODELS), human, synthetic)
    (north_record,) = [r for r in _records(result, "utility") if r.slice == {"site": "north"}]
    assert north_record.severity == "error"
    assert "found on 142 human rows, tested on the other 142" in north_record.message


@pytest.mark.parametrize("seed", range(5))
def test_random_halves_of_a_heavy_tailed_regression_table_give_no_utility_error(seed) -> None:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, :14]
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    assert frame["area_error"].max() > 10 * frame["area_error"].median()  # a heavy right tail
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    spec = make_spec(frame, "area_error", task="regression", models={"enabled": True})
    result = run_gaps(spec, frame.iloc[:284], frame.iloc[284:])
    assert [r.message for r in _records(result, "utility") if r.severity == "error"] == []


def test_a_one_row_class_and_a_class_only_synthetic_has_are_pooled() -> None:
    frame = _cancer()
    frame["target"] = np.where(frame["target"] == 1, "benign", "malignant")
    human, synthetic = frame.iloc[::2].copy(), frame.iloc[1::2].copy()
    human.iloc[0, human.columns.get_loc("target")] = "rare"
    synthetic.iloc[:5, synthetic.columns.get_loc("target")] = "invented"
    result = run_gaps(make_spec(frame, "target", models=MODELS), human, synthetic)
    (pooled,) = [r for r in result.records if r.metric == "label_classes_pooled"]
    assert pooled.value == 2 and "'invented', 'rare'" in pooled.message
    assert "1 human and 5 synthetic rows" in pooled.message
    assert {"balanced_accuracy_gap", "roc_auc_gap"} <= {r.metric for r in result.records}


def test_three_hundred_classes_are_pooled_to_the_most_common() -> None:
    rng = np.random.default_rng(0)
    rows = 4000
    x = rng.normal(size=(rows, 3))
    label = np.minimum(rng.zipf(1.4, size=rows), 300)
    label[:300] = np.arange(1, 301)  # every class at least once
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(label=[f"k{v:03d}" for v in label])
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    spec = make_spec(frame, "label", models={**MODELS, "max_classes": 8})
    result = run_gaps(spec, frame.iloc[:2000], frame.iloc[2000:])
    (pooled,) = [r for r in result.records if r.metric == "label_classes_pooled"]
    assert pooled.value == 300 - 7 and "the 7 most common classes kept" in pooled.message
    assert any(r.metric == "balanced_accuracy_gap" for r in result.records)


def test_a_constant_human_label_does_not_crash() -> None:
    frame = _cancer()
    human = frame.iloc[::2].assign(target=1)
    result = run_gaps(make_spec(frame, "target", models=MODELS), human, frame.iloc[1::2])
    assert any(r.metric == "balanced_accuracy_gap" for r in result.records)
