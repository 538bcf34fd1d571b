"""The demo data and its naive generator."""

from __future__ import annotations

from validation_loop.demo import demo_frame, sample_independent_marginals, setup_demo
from validation_loop.spec import Task, load_spec


def test_demo_frame_is_the_shipped_census_sample() -> None:
    frame = demo_frame()
    assert frame.shape == (6000, 15)
    assert set(frame["income"]) == {"<=50K", ">50K"}
    assert {"sex", "race", "workclass"} <= set(frame.columns)


def test_independent_marginals_keep_values_and_lose_relations() -> None:
    frame = demo_frame()
    sample = sample_independent_marginals(frame, 20_000, seed=1, drop=("person_id",))
    again = sample_independent_marginals(frame, 20_000, seed=1, drop=("person_id",))
    assert sample.equals(again)
    assert "person_id" not in sample
    assert set(sample["education"].dropna()) <= set(frame["education"].dropna())
    real = frame["education_num"].corr(frame["hours_per_week"])
    fake = sample["education_num"].corr(sample["hours_per_week"])
    assert abs(real) > 0.1 and abs(fake) < 0.03


def test_setup_demo_writes_spec_and_batches(home) -> None:
    layout = setup_demo(home)
    spec = load_spec(layout.spec_path)
    assert spec.task is Task.classification
    assert (spec.label, spec.id_column) == ("income", "person_id")
    assert spec.sensitive == ["sex", "race"]
    assert len(list(layout.landing("human").glob("*.csv"))) == 2
    assert len(list(layout.landing("synthetic").glob("*.parquet"))) == 1
