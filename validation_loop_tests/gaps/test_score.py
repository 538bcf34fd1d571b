"""The report score: each component and their mean as docs/metrics.md ("Score") defines them,
with expected values worked out by hand or recomputed here with numpy, pandas and scipy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from validation_loop.gaps.score import report_score, score_components
from validation_loop_tests.gaps.conftest import make_spec, run_gaps

NUMERIC, CATEGORICAL, LABEL, GROUP = ["x1", "x2"], ["g", "y"], "y", "g"
BINS = 10


def _record(metric: str, value: float | None) -> dict[str, Any]:
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
        "column_shapes": pytest.approx(0.8),  # (0.9 + 0.7) / 2
        "column_pair_trends": 0.5,
        "coverage": 1.0,  # the NaN range coverage is left out
        "diversity": 1.0,  # 1 - max(0, -0.01)
        "fairness": pytest.approx(0.8),  # 1 - (0.1 + 0.3) / 2
        "detection": 0.2,
        "utility": 0.75,  # 1 - 0.25
    }
    # (0.8 + 0.5 + 1 + 1 + 0.8 + 0.2 + 0.75) / 7 = 5.05 / 7 = 0.72142..., to 4 digits
    assert report_score(components) == 0.7214
    assert report_score({}) is None


def test_fairness_is_clipped_at_zero_and_utility_drop_at_one() -> None:
    records = [_record("group_outcome_gap", 0.9), _record("group_outcome_gap", -1.5)]
    records += [_record("r2_gap", 1.7), _record("tv_complement", 1.2)]
    assert score_components(records) == {
        "fairness": 0.0,  # 1 - (0.9 + 1.5) / 2 = -0.2, clipped
        "utility": 0.0,  # 1 - 1.7, clipped
        "column_shapes": 1.0,  # 1.2 clipped into [0, 1]
    }


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Human data, and synthetic data that shifts and widens x1, drops the x1-x2 correlation,
    misses group c, changes the label rates, has 5% missing x2 and 10% repeated rows."""
    rng = np.random.default_rng(11)
    n, m = 2000, 1500
    x1 = rng.normal(size=n)
    g = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    yes = rng.random(n) < 0.2 + 0.2 * (g == "b") + 0.1 * (x1 > 0)
    human = pd.DataFrame(
        {
            "x1": x1,
            "x2": 0.6 * x1 + 0.8 * rng.normal(size=n),
            "g": g,
            "y": np.where(yes, "yes", "no"),
        }
    )
    unique = m - m // 10
    s_g = rng.choice(["a", "b"], unique, p=[0.6, 0.4])
    s_yes = rng.random(unique) < np.where(s_g == "a", 0.4, 0.2)
    synthetic = pd.DataFrame(
        {
            "x1": rng.normal(0.3, 1.2, unique),
            "x2": np.where(rng.random(unique) < 0.05, np.nan, rng.normal(size=unique)),
            "g": s_g,
            "y": np.where(s_yes, "yes", "no"),
        }
    )
    repeats = synthetic.iloc[rng.integers(0, unique, m - unique)]
    return human, pd.concat([synthetic, repeats], ignore_index=True)


def _ks(h: pd.Series, s: pd.Series) -> float:
    return float(stats.ks_2samp(h.dropna(), s.dropna()).statistic)


def _tv(h: pd.Series, s: pd.Series) -> float:
    """Total variation distance between the shares of two series' values."""
    shares_h = h.value_counts(normalize=True)
    shares_s = s.value_counts(normalize=True)
    return float(0.5 * shares_h.sub(shares_s, fill_value=0).abs().sum())


def _levels(column: str, values: pd.Series, human: pd.Series) -> pd.Series:
    """Contingency levels: 10 equal-width bins over the human range with open outer bins for
    numeric columns, the values themselves for categorical ones; missing a level of its own."""
    if column in NUMERIC:
        low, high = human.min(), human.max()
        bins = np.clip(np.floor((values - low) / (high - low) * BINS), 0, BINS - 1)
        return bins.astype("object").where(values.notna(), "missing")
    return values.astype("object").where(values.notna(), "missing")


def _contingency_similarity(human: pd.DataFrame, synthetic: pd.DataFrame, a: str, b: str) -> float:
    def cells(frame: pd.DataFrame) -> pd.Series:
        pairs = zip(_levels(a, frame[a], human[a]), _levels(b, frame[b], human[b]), strict=True)
        return pd.Series(list(pairs)).astype(str)

    return 1 - _tv(cells(human), cells(synthetic))


def _range_coverage(h: pd.Series, s: pd.Series) -> float:
    span = h.max() - h.min()
    below = max(0.0, (s.min() - h.min()) / span)
    above = max(0.0, (h.max() - s.max()) / span)
    return max(0.0, 1 - below - above)


def _category_coverage(h: pd.Series, s: pd.Series) -> float:
    seen = set(h.dropna())
    return len(seen & set(s.dropna())) / len(seen)


def _outcome_gaps(human: pd.DataFrame, synthetic: pd.DataFrame) -> list[float]:
    """Per group with 10+ rows on each side: the rate of the rarer human label value, S - H."""
    rarer = human[LABEL].value_counts().sort_values().index[0]
    gaps = []
    for group in sorted(set(human[GROUP]) & set(synthetic[GROUP])):
        h = human.loc[human[GROUP] == group, LABEL]
        s = synthetic.loc[synthetic[GROUP] == group, LABEL]
        if len(h) >= 10 and len(s) >= 10:
            gaps.append(float((s == rarer).mean() - (h == rarer).mean()))
    return gaps


def _expected_components(human: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, float]:
    """The score components by the docs' formulas, computed without the library."""
    r_h = human["x1"].corr(human["x2"])
    r_s = synthetic[["x1", "x2"]].dropna().corr().iloc[0, 1]
    mixed = [(a, b) for a in NUMERIC for b in CATEGORICAL] + [("g", "y")]
    excess = synthetic.duplicated().mean() - human.duplicated().mean()
    gaps = _outcome_gaps(human, synthetic)
    parts = {
        "column_shapes": [1 - _ks(human[c], synthetic[c]) for c in NUMERIC]
        + [1 - _tv(human[c], synthetic[c]) for c in CATEGORICAL],
        "column_pair_trends": [1 - abs(r_h - r_s) / 2]
        + [_contingency_similarity(human, synthetic, a, b) for a, b in mixed],
        # sensitive attributes are covered under bias, not coverage (docs/metrics.md)
        "coverage": [_range_coverage(human[c], synthetic[c]) for c in NUMERIC]
        + [_category_coverage(human[c], synthetic[c]) for c in CATEGORICAL if c != GROUP],
        "diversity": [1 - max(0.0, excess)],
        "fairness": [max(0.0, 1 - float(np.mean(np.abs(gaps))))],
    }
    return {name: float(np.mean(values)) for name, values in parts.items()}


def test_score_of_a_comparison_matches_the_documented_formula() -> None:
    human, synthetic = _frames()
    spec = make_spec(human, LABEL, sensitive=[GROUP])
    records = [r.to_dict() for r in run_gaps(spec, human, synthetic).records]
    expected = _expected_components(human, synthetic)
    assert expected["coverage"] < 1 and expected["diversity"] < 0.95  # the fixture bites
    assert expected["fairness"] < 0.95 and expected["column_pair_trends"] < 0.95
    components = score_components(records)
    assert components == {name: pytest.approx(v, abs=1e-4) for name, v in expected.items()}
    mean = sum(expected.values()) / len(expected)
    assert report_score(components) == pytest.approx(mean, abs=1e-4)


def test_identical_data_scores_exactly_one() -> None:
    human, _ = _frames()
    spec = make_spec(human, LABEL, sensitive=[GROUP])
    components = score_components(r.to_dict() for r in run_gaps(spec, human, human).records)
    assert components == dict.fromkeys(
        ["column_shapes", "column_pair_trends", "coverage", "diversity", "fairness"], 1.0
    )
    assert report_score(components) == 1.0
