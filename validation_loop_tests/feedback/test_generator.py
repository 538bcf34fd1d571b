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


def test_balanced_categories_keep_their_correlation() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=2000)
    y = np.where(x > np.median(x), "b", "a")  # exactly 1000 / 1000
    frame = pd.DataFrame({"x": x, "y": y})
    config = fit_config(frame, make_spec(frame, "y"), rows=4000)
    assert abs(config.correlation[0][1]) > 0.6
    made = generate(config)
    assert abs(made["x"].corr((made["y"] == "b").astype(float))) > 0.5


def test_min_distance_redraws_near_copies_of_human_rows() -> None:
    from validation_loop.errors import ValidationLoopError
    from validation_loop.gaps.encoding import MixedEncoder, nearest_distances

    rng = np.random.default_rng(2)
    human = pd.DataFrame(
        {
            "a": rng.integers(0, 3, 600).astype(float),
            "flag": rng.random(600) < 0.5,
            "y": rng.choice(["n", "p"], 600),
        }
    )
    spec = make_spec(human, "y")
    config = fit_config(human, spec, rows=600)

    def near_share(frame: pd.DataFrame) -> float:
        text = ["flag", "y"]
        both = [f.assign(**{c: f[c].astype(str) for c in text}) for f in (human, frame)]
        encoder = MixedEncoder(["a"], text).fit(both[0])
        distance = nearest_distances(encoder.transform(both[0]), encoder.transform(both[1]), False)
        return float((distance == 0).mean())

    assert near_share(generate(config)) > 0.5  # a tiny space: most rows copy a human row
    with pytest.raises(ValidationLoopError, match="lower min_distance"):
        generate(config.model_copy(update={"min_distance": 0.5}), reference=human)


def test_min_distance_keeps_rows_at_least_that_far(human, spec, config) -> None:
    from validation_loop.gaps.encoding import MixedEncoder, nearest_distances

    far = config.model_copy(update={"min_distance": 0.5})
    made = generate(far, rows=2000, reference=human)
    assert len(made) == 2000
    numeric = [c for c, k in far.columns.items() if k.kind == "numeric"]
    text = [c for c in [*far.columns, far.label] if c not in numeric]
    sides = [f.assign(**{c: f[c].astype(str) for c in text}) for f in (human, made)]
    encoder = MixedEncoder(numeric, text).fit(sides[0])
    coded = encoder.transform(sides[0])
    typical = np.median(nearest_distances(coded, coded, True))
    distance = nearest_distances(coded, encoder.transform(sides[1]), False)
    assert distance.min() >= 0.5 * typical - 1e-6
    plain = generate(config, rows=2000)
    plain_side = plain.assign(**{c: plain[c].astype(str) for c in text})
    assert (nearest_distances(coded, encoder.transform(plain_side), False) < 0.5 * typical).any()
