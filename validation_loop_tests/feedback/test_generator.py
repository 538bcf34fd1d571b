"""The reference generator: a config fitted on human rows reproduces them; each knob works."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from validation_loop.demo import demo_frame
from validation_loop.feedback.generator import GeneratorConfig, fit_config, generate
from validation_loop.gaps.distances import tv_distance
from validation_loop.gaps.profile import aligned_counts
from validation_loop.gaps.significance import ks_test
from validation_loop_tests.gaps.conftest import make_spec


@pytest.fixture(scope="module")
def human() -> pd.DataFrame:
    return demo_frame().drop(columns=["person_id"]).iloc[:4000].reset_index(drop=True)


@pytest.fixture(scope="module")
def spec(human):
    return make_spec(human, "income", slices=["workclass", "education"], sensitive=["sex"])


@pytest.fixture(scope="module")
def config(human, spec) -> GeneratorConfig:
    return fit_config(human, spec, rows=20_000)


def _tv(a: pd.Series, b: pd.Series) -> float:
    _, x, y = aligned_counts(
        a.dropna().astype(str).value_counts().to_dict(),
        b.dropna().astype(str).value_counts().to_dict(),
    )
    return tv_distance(x, y)


def test_fitted_config_reproduces_marginals_slices_and_label(human, config) -> None:
    synthetic = generate(config)
    assert len(synthetic) == 20_000
    for column in ("age", "hours_per_week", "education_num"):
        statistic, _ = ks_test(
            human[column].to_numpy(dtype=float), synthetic[column].to_numpy(dtype=float)
        )
        assert statistic < 0.08, column
    for column in ("workclass", "race", "sex", "income"):
        assert _tv(human[column], synthetic[column]) < 0.03, column
    assert (synthetic["age"].dropna() % 1 == 0).all()  # human ages are whole numbers
    by_slice = synthetic.groupby("workclass")["income"].apply(lambda s: (s == ">50K").mean())
    truth = human.groupby("workclass")["income"].apply(lambda s: (s == ">50K").mean())
    assert abs(by_slice["Private"] - truth["Private"]) < 0.03
    assert abs(by_slice["Self-emp-inc"] - truth["Self-emp-inc"]) < 0.1
    assert abs(synthetic["occupation"].isna().mean() - human["occupation"].isna().mean()) < 0.02


def test_copula_keeps_relations(human, config) -> None:
    synthetic = generate(config)
    real = human["education_num"].corr((human["income"] == ">50K").astype(float))
    fake = synthetic["education_num"].corr((synthetic["income"] == ">50K").astype(float))
    assert real > 0.25 and fake > 0.6 * real


def test_knobs_change_what_they_say(config) -> None:
    knobs = config.model_copy(deep=True)
    knobs.slice_weights = {"Private": 0.5, "Local-gov": 0.5}
    knobs.duplicate_rate = 0.2
    knobs.columns["age"].marginals["*"].shift = 10.0
    for marginal in knobs.columns["age"].marginals.values():
        marginal.shift = 10.0
    synthetic = generate(knobs, rows=10_000)
    assert set(synthetic["workclass"].dropna()) <= {"Private", "Local-gov"}
    assert synthetic.duplicated().mean() == pytest.approx(0.2, abs=0.02)
    assert synthetic["age"].median() == pytest.approx(generate(config)["age"].median() + 10, abs=2)


def test_generation_is_deterministic_and_round_trips_yaml(config) -> None:
    again = GeneratorConfig.model_validate(config.model_dump(mode="json"))
    assert generate(config, rows=500).equals(generate(again, rows=500))
    assert not generate(config, rows=500).equals(
        generate(config.model_copy(update={"seed": 1}), rows=500)
    )


def test_regression_label(spec) -> None:
    frame = demo_frame().drop(columns=["person_id"]).iloc[:2000]
    regression = make_spec(
        frame.drop(columns=["income"]), "hours_per_week", task="regression", slices=["sex"]
    )
    synthetic = generate(fit_config(frame.drop(columns=["income"]), regression, rows=5000))
    statistic, _ = ks_test(
        frame["hours_per_week"].to_numpy(dtype=float),
        synthetic["hours_per_week"].to_numpy(dtype=float),
    )
    assert statistic < 0.1
    assert np.isfinite(synthetic["hours_per_week"].astype(float)).all()
