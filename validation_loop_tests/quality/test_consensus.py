"""Consensus labels: majority vote, median, and Dawid-Skene on simulated annotators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from validation_loop.quality.consensus import dawid_skene, majority_vote, median_consensus

GOOD3 = np.full((3, 3), 0.1) + np.eye(3) * 0.7  # right 80% of the time, errors spread evenly
# Adversarial: answers the "next" class 90% of the time (a -> b, b -> c, c -> a).
SHIFTED3 = np.roll(np.full((3, 3), 0.05) + np.eye(3) * 0.85, 1, axis=1)


def frame(rows: list[tuple[str, str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"])


def simulate(
    seed: int,
    items: int,
    classes: list[str],
    confusions: dict[str, np.ndarray],
    coverage: float = 1.0,
) -> tuple[pd.DataFrame, pd.Series]:
    """Judgements by annotators with known confusion matrices (rows: true class), and the truth.

    Each annotator judges each item with probability `coverage`.
    """
    rng = np.random.default_rng(seed)
    names = np.array([f"i{k:04d}" for k in range(items)])
    truth = rng.integers(len(classes), size=items)
    parts = []
    for annotator, confusion in confusions.items():
        cumulative = np.cumsum(confusion, axis=1)
        given = (rng.random(items)[:, None] > cumulative[truth]).sum(axis=1)
        seen = rng.random(items) < coverage
        parts.append(
            pd.DataFrame(
                {
                    "item_id": names[seen],
                    "annotator_id": annotator,
                    "label": np.asarray(classes)[given[seen]],
                }
            )
        )
    return pd.concat(parts, ignore_index=True), pd.Series(np.asarray(classes)[truth], index=names)


def accuracy(consensus: pd.DataFrame, truth: pd.Series) -> float:
    """Share of all items whose consensus label is the truth (an item nobody judged is wrong)."""
    return float((consensus.set_index("item_id")["label"].reindex(truth.index) == truth).mean())


# Majority vote and median ------------------------------------------------------------------------


def test_majority_vote_counts_votes_and_shares() -> None:
    judgements = frame(
        [
            ("x", "a", "q"),
            ("x", "b", "q"),
            ("x", "c", "p"),
            ("x", "d", None),  # a missing judgement is no vote
            ("y", "a", "r"),
        ]
    )
    result = majority_vote(judgements)
    assert result.to_dict("list") == {
        "item_id": ["x", "y"],
        "label": ["q", "r"],
        "votes": [2, 1],
        "share": [pytest.approx(2 / 3), 1.0],
    }


def test_majority_vote_breaks_ties_by_smallest_label() -> None:
    words = frame([("x", "a", "zebra"), ("x", "b", "apple"), ("x", "c", "mango")])
    assert majority_vote(words)["label"].tolist() == ["apple"]
    # Numbers compare as numbers: 9 < 10, although "10" < "9" as strings.
    numbers = frame([("x", "a", 10), ("x", "b", 9), ("y", "a", 10), ("y", "b", 10)])
    assert majority_vote(numbers)["label"].tolist() == [9, 10]
    assert majority_vote(numbers)["share"].tolist() == [0.5, 1.0]


def test_median_consensus_for_regression_labels() -> None:
    judgements = frame(
        [("x", "a", 1.0), ("x", "b", 2.0), ("x", "c", 10.0), ("y", "a", 1.0), ("y", "b", 2.0)]
    )
    assert median_consensus(judgements).to_dict("list") == {
        "item_id": ["x", "y"],
        "label": [2.0, 1.5],
    }
    with pytest.raises(ValueError, match="numeric labels"):
        median_consensus(frame([("x", "a", "p")]))


def test_empty_judgements_raise_value_error() -> None:
    for function in (majority_vote, median_consensus, dawid_skene):
        with pytest.raises(ValueError, match="no judgements"):
            function(frame([]))


# Dawid-Skene -------------------------------------------------------------------------------------


def test_dawid_skene_matches_majority_vote_with_honest_annotators() -> None:
    accuracies = (0.9, 0.8, 0.7, 0.6, 0.55)
    confusions = {
        f"h{k}": np.full((3, 3), (1 - acc) / 2) + np.eye(3) * (acc - (1 - acc) / 2)
        for k, acc in enumerate(accuracies)
    }
    judgements, truth = simulate(11, 500, ["a", "b", "c"], confusions)
    result = dawid_skene(judgements)
    assert result.converged
    assert accuracy(result.labels, truth) >= accuracy(majority_vote(judgements), truth)


def test_dawid_skene_sees_through_adversarial_annotators() -> None:
    """3 good annotators (80% right) and 2 who systematically answer the next class."""
    confusions = {"g1": GOOD3, "g2": GOOD3, "g3": GOOD3, "x1": SHIFTED3, "x2": SHIFTED3}
    judgements, truth = simulate(0, 600, ["a", "b", "c"], confusions, coverage=0.8)
    result = dawid_skene(judgements)
    assert result.converged and result.iterations < 100
    assert accuracy(result.labels, truth) >= 0.95
    assert accuracy(majority_vote(judgements), truth) <= 0.7
    for name in ("g1", "g2", "g3"):
        assert result.confusion[name].to_numpy() == pytest.approx(GOOD3, abs=0.08)
    for name in ("x1", "x2"):
        # Each true class is mapped to the next one.
        assert result.confusion[name].idxmax(axis=1).to_dict() == {"a": "b", "b": "c", "c": "a"}
    assert result.priors.sum() == pytest.approx(1.0)
    assert result.priors.to_numpy() == pytest.approx(
        truth.value_counts(normalize=True).sort_index().to_numpy(), abs=0.03
    )


def test_dawid_skene_ignores_colluding_spammers_that_mislead_majority_vote() -> None:
    """3 honest annotators (85% right) outvoted by 4 spammers who always answer "a"."""
    honest = np.array([[0.85, 0.15], [0.15, 0.85]])
    spammer = np.array([[1.0, 0.0], [1.0, 0.0]])
    confusions = {f"h{k}": honest for k in range(3)} | {f"s{k}": spammer for k in range(4)}
    judgements, truth = simulate(1, 400, ["a", "b"], confusions)
    result = dawid_skene(judgements)
    assert (majority_vote(judgements)["label"] == "a").all()
    assert accuracy(result.labels, truth) >= 0.9
    assert accuracy(result.labels, truth) >= accuracy(majority_vote(judgements), truth) + 0.35


def test_dawid_skene_is_deterministic_and_order_free() -> None:
    confusions = {"g1": GOOD3, "g2": GOOD3, "x1": SHIFTED3}
    judgements, _ = simulate(3, 200, ["a", "b", "c"], confusions, coverage=0.7)
    first, second = dawid_skene(judgements), dawid_skene(judgements)
    pd.testing.assert_frame_equal(first.labels, second.labels)
    assert first.iterations == second.iterations
    shuffled = dawid_skene(judgements.sample(frac=1.0, random_state=5))
    assert shuffled.labels["label"].tolist() == first.labels["label"].tolist()
    assert shuffled.labels["posterior"].to_numpy() == pytest.approx(
        first.labels["posterior"].to_numpy(), abs=1e-9
    )


def test_dawid_skene_stops_at_max_iter() -> None:
    judgements, _ = simulate(4, 100, ["a", "b", "c"], {"g1": GOOD3, "x1": SHIFTED3})
    result = dawid_skene(judgements, max_iter=1)
    assert (result.iterations, result.converged) == (1, False)
    with pytest.raises(ValueError, match="max_iter"):
        dawid_skene(judgements, max_iter=0)


def test_dawid_skene_breaks_exact_ties_by_smallest_label() -> None:
    result = dawid_skene(frame([("x", "a", "q"), ("x", "b", "p")]))
    assert result.labels.to_dict("list") == {"item_id": ["x"], "label": ["p"], "posterior": [0.5]}


def test_dawid_skene_smooths_unseen_cells() -> None:
    judgements = frame([("x", "a", "p"), ("y", "a", "q"), ("y", "b", "q"), ("z", "b", "r")])
    result = dawid_skene(judgements)
    assert result.converged
    assert set(result.confusion) == {"a", "b"}
    for confusion in result.confusion.values():
        assert (confusion.to_numpy() > 0).all()
        assert confusion.sum(axis=1).to_numpy() == pytest.approx(np.ones(3))
    # A single annotator, and items judged once: the consensus is what was said.
    single = dawid_skene(frame([("x", "a", "p"), ("y", "a", "q")]))
    assert single.labels["label"].tolist() == ["p", "q"]
    assert set(single.confusion) == {"a"}
