"""The report score: components in [0, 1], identical data scores near 1, broken data lower."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from validation_loop.gaps.score import report_score, score_components
from validation_loop_tests.gaps.conftest import make_spec, run_gaps


def _record(metric: str, value: float | None) -> dict:
    return {"metric": metric, "value": value}


def test_components_follow_their_definitions() -> None:
    records = [
        _record("ks_complement", 0.9),
        _record("tv_complement", 0.7),
        _record("correlation_similarity_pearson", 0.5),
        _record("category_coverage", 1.0),
        _record("range_coverage", float("nan")),
        _record("duplicate_rate_excess", -0.01),
        _record("group_outcome_gap", -0.1),
        _record("group_outcome_gap", 0.3),
        _record("detection_score", 0.2),
        _record("balanced_accuracy_gap", 0.25),
        _record("ks", 0.4),  # not a component
    ]
    components = score_components(records)
    assert components == {
        "column_shapes": pytest.approx(0.8),
        "column_pair_trends": 0.5,
        "coverage": 1.0,
        "diversity": 1.0,
        "fairness": pytest.approx(0.8),
        "detection": 0.2,
        "utility": 0.75,
    }
    assert report_score(components) == pytest.approx(sum(components.values()) / 7, abs=1e-4)
    assert report_score({}) is None


def test_identical_data_scores_high_and_broken_data_lower() -> None:
    rng = np.random.default_rng(3)
    human = pd.DataFrame(
        {
            "x": rng.normal(size=3000),
            "g": rng.choice(["a", "b", "c"], 3000),
            "y": rng.choice(["no", "yes"], 3000),
        }
    )
    spec = make_spec(human, "y", sensitive=["g"])
    same = report_score(score_components(r.to_dict() for r in run_gaps(spec, human, human).records))
    broken = human.assign(x=human["x"] * 0.2 + 2, g="a")
    worse = report_score(
        score_components(r.to_dict() for r in run_gaps(spec, human, broken).records)
    )
    assert same is not None and worse is not None
    assert same > 0.97 and worse < same - 0.15
