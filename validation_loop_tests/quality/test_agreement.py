"""Agreement statistics: published figures, independent implementations, hand-computed cases."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats import inter_rater

from validation_loop.quality.agreement import (
    annotator_agreement,
    fleiss_kappa,
    gold_accuracy,
    item_agreement,
    krippendorff_alpha,
)
from validation_loop.quality.consensus import majority_vote, median_consensus

LEVELS = ("nominal", "ordinal", "interval", "ratio")
NAN = float("nan")

# Krippendorff (2011), reliability data matrix: observers A-D (rows) x units 1-12 (columns).
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects x 5 categories, 14 raters each.
WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def long_format(matrix: list[list[object]] | np.ndarray) -> pd.DataFrame:
    """Observers x units reliability matrix -> one row per cell (missing cells keep a nan label)."""
    return pd.DataFrame(
        [
            {"item_id": f"u{unit:03d}", "annotator_id": f"o{observer}", "label": value}
            for observer, row in enumerate(matrix)
            for unit, value in enumerate(row)
        ]
    )


def from_count_table(table: list[list[int]]) -> pd.DataFrame:
    """Subjects x categories count table -> long judgements with labels c0, c1, ..."""
    return pd.DataFrame(
        [
            {"item_id": f"s{subject:02d}", "annotator_id": f"r{rater}", "label": f"c{category}"}
            for subject, row in enumerate(table)
            for rater, category in enumerate(
                category for category, count in enumerate(row) for _ in range(count)
            )
        ]
    )


def frame(rows: list[tuple[str, str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"])


def random_matrix(seed: int, continuous: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    observers, units = rng.integers(3, 7), rng.integers(15, 40)
    if continuous:
        values = rng.gamma(2.0, 3.0, size=(observers, units)).round(2)
    else:
        truth = rng.integers(0, 6, size=units)  # 0 included: the ratio distance of 0 and 0 is 0
        slips = rng.random((observers, units)) < 0.4
        values = np.clip(truth + rng.integers(-1, 2, size=(observers, units)) * slips, 0, 5)
        values = values.astype(float)
    values[rng.random(values.shape) < 0.3] = np.nan
    return values


# Krippendorff's alpha ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_alpha_reproduces_krippendorff_2011(level, published) -> None:
    """Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Departmental Papers
    (ASC), Annenberg School for Communication, University of Pennsylvania. Worked example with
    4 observers x 12 units and missing values; reported alpha: nominal .743, ordinal .815,
    interval .849, ratio .797 (the matrix is also the `krippendorff` package's doctest).
    """
    assert round(krippendorff_alpha(long_format(KRIPPENDORFF_2011), level), 3) == published


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(("seed", "continuous"), [(0, False), (1, False), (2, True), (3, True)])
def test_alpha_matches_the_krippendorff_package(seed, continuous, level) -> None:
    matrix = random_matrix(seed, continuous)
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
    assert krippendorff_alpha(long_format(matrix), level) == pytest.approx(expected, abs=1e-9)


def test_ordinal_alpha_uses_category_order_of_an_ordered_categorical() -> None:
    names = ["very low", "low", "mid", "high", "very high"]
    words = [[names[int(v) - 1] if v == v else None for v in row] for row in KRIPPENDORFF_2011]
    judgements = long_format(words)
    as_strings = krippendorff_alpha(judgements, "ordinal")
    judgements["label"] = pd.Categorical(judgements["label"], categories=names, ordered=True)
    assert round(krippendorff_alpha(judgements, "ordinal"), 3) == 0.815
    assert as_strings != pytest.approx(0.815, abs=1e-3)  # alphabetical order is another scale


def test_alpha_ignores_items_with_one_judgement() -> None:
    base = long_format(KRIPPENDORFF_2011)
    singles = frame([("lonely1", "o0", 9.0), ("lonely2", "o1", 7.0)])
    for level in LEVELS:
        assert krippendorff_alpha(pd.concat([base, singles]), level) == pytest.approx(
            krippendorff_alpha(base, level), abs=1e-12
        )


def test_alpha_counts_disagreement_below_chance_as_negative() -> None:
    judgements = frame([("x", "a", "p"), ("x", "b", "q"), ("y", "a", "q"), ("y", "b", "p")])
    # Coincidences o_pq = o_qp = 2, n_p = n_q = 2, n = 4: alpha = 1 - 3 * 4 / 8 = -0.5.
    assert krippendorff_alpha(judgements) == pytest.approx(-0.5)


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_is_nan_when_all_judgements_are_identical(level) -> None:
    judgements = frame([(item, who, 3.0) for item in "xyz" for who in ("a", "b", "c")])
    assert math.isnan(krippendorff_alpha(judgements, level))


def test_alpha_is_nan_for_a_single_annotator() -> None:
    judgements = frame([("x", "a", "p"), ("y", "a", "q"), ("z", "a", "p")])
    assert math.isnan(krippendorff_alpha(judgements))


@pytest.mark.parametrize(
    ("judgements", "match"),
    [
        (frame([]), "no judgements"),
        (frame([("x", "a", None), ("x", "b", None)]), "no judgements"),
        (pd.DataFrame({"item_id": ["x"], "label": ["p"]}), "annotator_id"),
        (frame([(None, "a", "p"), ("x", "b", "p")]), "missing item_id"),
    ],
)
def test_unusable_judgements_raise_value_error(judgements, match) -> None:
    with pytest.raises(ValueError, match=match):
        krippendorff_alpha(judgements)


def test_alpha_rejects_bad_levels_and_labels() -> None:
    words = frame([("x", "a", "p"), ("x", "b", "q")])
    with pytest.raises(ValueError, match="unknown level"):
        krippendorff_alpha(words, "cardinal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="numeric labels"):
        krippendorff_alpha(words, "interval")
    with pytest.raises(ValueError, match="non-negative"):
        krippendorff_alpha(frame([("x", "a", -1.0), ("x", "b", 2.0)]), "ratio")


# Fleiss' kappa -----------------------------------------------------------------------------------


def test_fleiss_kappa_reproduces_the_wikipedia_example() -> None:
    """Wikipedia, "Fleiss' kappa", worked example: P-bar = 0.378, P_e = 0.213, kappa = 0.210."""
    assert round(fleiss_kappa(from_count_table(WIKIPEDIA_FLEISS)), 3) == 0.210


@pytest.mark.parametrize("seed", range(4))
def test_fleiss_kappa_matches_statsmodels(seed) -> None:
    rng = np.random.default_rng(seed)
    items, raters = rng.integers(10, 50), rng.integers(2, 8)
    truth = rng.integers(0, 4, size=(items, 1))
    labels = np.where(rng.random((items, raters)) < 0.6, truth, rng.integers(0, 4, (items, raters)))
    table, _ = inter_rater.aggregate_raters(labels)
    judgements = long_format(labels.T.astype(str).tolist())
    assert fleiss_kappa(judgements) == pytest.approx(inter_rater.fleiss_kappa(table), abs=1e-12)


def test_fleiss_kappa_needs_equal_counts_of_at_least_two() -> None:
    unequal = frame([("x", "a", "p"), ("x", "b", "p"), ("y", "a", "q")])
    assert fleiss_kappa(unequal) is None
    assert fleiss_kappa(frame([("x", "a", "p"), ("y", "a", "q")])) is None
    # A missing label makes the counts unequal.
    assert (
        fleiss_kappa(frame([("x", "a", "p"), ("x", "b", "p"), ("y", "a", "q"), ("y", "b", None)]))
        is None
    )
    assert math.isnan(fleiss_kappa(frame([("x", "a", "p"), ("x", "b", "p")])))


# Per-item agreement ------------------------------------------------------------------------------


def test_item_agreement_nominal_counts_agreeing_pairs() -> None:
    judgements = frame(
        [
            ("x", "a", "p"),
            ("x", "b", "p"),
            ("x", "c", "q"),
            ("y", "a", "r"),
            ("y", "b", "q"),
            ("z", "a", "p"),
        ]
    )
    result = item_agreement(judgements).set_index("item_id")
    assert result["judgements"].tolist() == [3, 2, 1]
    assert result.loc["x", "agreement"] == pytest.approx(1 / 3)  # 1 agreeing pair of 3
    assert result.loc["y", "agreement"] == 0
    assert math.isnan(result.loc["z", "agreement"])
    assert result["majority_label"].tolist() == ["p", "q", "p"]  # y: tie q/r -> q
    assert result["majority_share"].tolist() == pytest.approx([2 / 3, 1 / 2, 1])


def test_item_agreement_interval_is_clipped_against_expected_disagreement() -> None:
    judgements = frame(
        [
            ("x", "a", 1.0),
            ("x", "b", 1.0),
            ("y", "a", 1.0),
            ("y", "b", 3.0),
            ("z", "a", 3.0),
            ("z", "b", 3.0),
            ("w", "a", 2.0),
            ("w", "b", 3.0),
        ]
    )
    # Pairable values 1 (x3), 2 (x1), 3 (x4):
    # D_e = 2 * (3 * 1 * 1 + 3 * 4 * 4 + 1 * 4 * 1) / (8 * 7) = 110 / 56.
    # Item w: D_o = 1; item y: D_o = 4 > D_e, clipped to 0.
    result = item_agreement(judgements, "interval").set_index("item_id")["agreement"]
    assert result.to_dict() == pytest.approx({"w": 1 - 56 / 110, "x": 1.0, "y": 0.0, "z": 1.0})


@pytest.mark.parametrize("level", ["ordinal", "interval", "ratio"])
def test_unclipped_item_agreement_averages_to_alpha(level) -> None:
    rng = np.random.default_rng(7)
    truth = rng.integers(1, 40, size=30).astype(float)
    matrix = truth + rng.integers(0, 2, size=(3, 30)) * (rng.random((3, 30)) < 0.3)
    result = item_agreement(long_format(matrix), level)
    assert result["agreement"].between(0, 1, inclusive="neither").any()
    assert (result["agreement"] > 0).all()  # nothing clipped, so the identity holds
    weighted = (result["agreement"] * result["judgements"]).sum() / result["judgements"].sum()
    assert weighted == pytest.approx(krippendorff_alpha(long_format(matrix), level), abs=1e-12)


def test_item_agreement_is_one_when_nothing_varies() -> None:
    judgements = frame([("x", "a", 2.0), ("x", "b", 2.0), ("y", "a", 2.0)])
    result = item_agreement(judgements, "interval")
    assert result["agreement"].tolist()[0] == 1.0
    assert math.isnan(result["agreement"].tolist()[1])


# Per-annotator agreement and gold ----------------------------------------------------------------


def test_annotator_agreement_nominal_share_and_kappa_match_sklearn() -> None:
    judgements = long_format(KRIPPENDORFF_2011)
    consensus = majority_vote(judgements)
    result = annotator_agreement(judgements, consensus).set_index("annotator_id")
    merged = judgements.dropna().merge(consensus, on="item_id", suffixes=("", "_consensus"))
    for annotator, rows in merged.groupby("annotator_id"):
        assert result.loc[annotator, "judgements"] == len(rows)
        assert result.loc[annotator, "agreement"] == pytest.approx(
            (rows["label"] == rows["label_consensus"]).mean()
        )
        assert result.loc[annotator, "kappa"] == pytest.approx(
            cohen_kappa_score(rows["label"], rows["label_consensus"]), abs=1e-12
        )
    assert result.loc["o2", "agreement"] == pytest.approx(0.7)


def test_annotator_agreement_interval_is_mean_absolute_error() -> None:
    judgements = frame(
        [
            ("x", "a", 1.0),
            ("x", "b", 2.0),
            ("x", "c", 4.0),
            ("y", "a", 0.0),
            ("y", "b", 1.0),
            ("z", "d", 5.0),
        ]
    )
    consensus = median_consensus(judgements).query("item_id != 'z'")
    result = annotator_agreement(judgements, consensus, "interval").set_index("annotator_id")
    # Medians: x = 2, y = 0.5.
    assert result["judgements"].to_dict() == {"a": 2, "b": 2, "c": 1, "d": 0}
    assert result["mean_absolute_error"].iloc[:3].tolist() == pytest.approx([0.75, 0.25, 2.0])
    assert math.isnan(result.loc["d", "mean_absolute_error"])
    assert "kappa" not in result.columns


def test_annotator_agreement_rejects_ambiguous_consensus() -> None:
    judgements = frame([("x", "a", "p"), ("x", "b", "q")])
    twice = pd.DataFrame({"item_id": ["x", "x"], "label": ["p", "q"]})
    with pytest.raises(ValueError, match="more than one row"):
        annotator_agreement(judgements, twice)


def test_gold_accuracy_per_annotator() -> None:
    judgements = frame(
        [("g1", "a", "p"), ("g1", "b", "q"), ("g2", "a", "q"), ("g2", "b", "q"), ("n", "c", "p")]
    )
    result = gold_accuracy(judgements, {"g1": "p", "g2": "q"}).set_index("annotator_id")
    assert result.columns.tolist() == ["gold_judgements", "accuracy"]
    assert result["gold_judgements"].to_dict() == {"a": 2, "b": 2, "c": 0}
    assert result.loc["a", "accuracy"] == 1.0
    assert result.loc["b", "accuracy"] == 0.5
    assert math.isnan(result.loc["c", "accuracy"])


def test_gold_accuracy_interval_and_empty_gold() -> None:
    judgements = frame([("g1", "a", 1.5), ("g2", "a", 4.0), ("g1", "b", 3.0)])
    result = gold_accuracy(judgements, {"g1": 2.0, "g2": 3.0}, "interval")
    assert result["mean_absolute_error"].tolist() == pytest.approx([0.75, 1.0])
    with pytest.raises(ValueError, match="gold is empty"):
        gold_accuracy(judgements, {})
