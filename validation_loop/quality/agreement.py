"""Agreement among human annotators on long-format judgements (item_id, annotator_id, label).

Krippendorff's alpha, Fleiss' kappa, per-item and per-annotator agreement and accuracy on gold.
Pairwise statistics follow Krippendorff (2011): an item with fewer than two judgements is not
pairable, and `delta` is the level's distance between two values (nominal: 0 or 1; ordinal,
interval: squared difference of positions; ratio: ((c - k) / (c + k)) ** 2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from validation_loop.quality.consensus import majority_vote, numeric_labels, validate_judgements

Level = Literal["nominal", "ordinal", "interval", "ratio"]
Delta = Callable[[np.ndarray, np.ndarray], np.ndarray]

_NUMERIC_LEVELS = ("interval", "ratio")
# Cells of the value-by-value distance matrix evaluated per block for expected disagreement.
_BLOCK_CELLS = 1 << 22


def _prepared(judgements: pd.DataFrame, level: str) -> pd.DataFrame:
    """Validated judgements, with float labels for the numeric levels; checks the level."""
    if level not in get_args(Level):
        raise ValueError(f"unknown level {level!r}; expected one of {get_args(Level)}")
    frame = validate_judgements(judgements)
    if level in _NUMERIC_LEVELS:
        frame["label"] = numeric_labels(frame["label"], f"level {level!r}")
    if level == "ratio" and (frame["label"] < 0).any():
        raise ValueError("level 'ratio' needs non-negative labels")
    return frame


def _delta(uniques: pd.Index, counts: np.ndarray, level: Level) -> tuple[Delta, np.ndarray | None]:
    """The level's distance between codes of sorted distinct values, and their positions.

    Positions are returned for the levels whose distance is a squared difference of positions;
    ordinal positions are mid-cumulative frequencies, which is Krippendorff's ordinal metric.
    """
    if level == "nominal":
        return lambda a, b: (a != b).astype(float), None
    if level == "ratio":
        values = uniques.to_numpy(dtype=float)

        def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            total = values[a] + values[b]
            # A zero total means both values are 0: distance 0, whatever the denominator.
            return ((values[a] - values[b]) / np.where(total == 0, 1.0, total)) ** 2

        return ratio, None
    positions = (
        np.cumsum(counts) - counts / 2 if level == "ordinal" else uniques.to_numpy(dtype=float)
    )
    return lambda a, b: (positions[a] - positions[b]) ** 2, positions


def _expected_sum(counts: np.ndarray, delta: Delta, positions: np.ndarray | None) -> float:
    """Sum over ordered pairs of pairable values of delta: sum over c, k of n_c * n_k * delta."""
    if positions is not None:
        mean = (counts * positions).sum() / counts.sum()
        return float(2 * counts.sum() * (counts * (positions - mean) ** 2).sum())
    codes = np.arange(len(counts))
    step = max(1, _BLOCK_CELLS // len(counts))
    return float(
        sum(
            (
                counts[start : start + step, None]
                * counts
                * delta(codes[start : start + step, None], codes)
            ).sum()
            for start in range(0, len(counts), step)
        )
    )


def _disagreement(frame: pd.DataFrame, level: Level) -> tuple[pd.DataFrame, float]:
    """Per pairable item its mean delta over pairs of its judgements, and the expected delta.

    The expected delta is the mean delta over ordered pairs of distinct pairable values (nan when
    there is no pairable item): Krippendorff's D_e.
    """
    sizes = frame.groupby("item_id")["label"].transform("size")
    pairable = frame.loc[sizes >= 2]
    if pairable.empty:
        return pd.DataFrame({"item_id": [], "judgements": [], "disagreement": []}), float("nan")
    codes, uniques = pd.factorize(pairable["label"], sort=True)
    counts = np.bincount(codes, minlength=len(uniques)).astype(float)
    delta, positions = _delta(uniques, counts, level)

    cells = (
        pd.DataFrame({"item_id": pairable["item_id"].to_numpy(), "code": codes})
        .groupby(["item_id", "code"])
        .size()
        .rename("n")
        .reset_index()
    )
    pairs = cells.merge(cells, on="item_id", suffixes=("_c", "_k"))
    pairs["weighted"] = (
        pairs["n_c"] * pairs["n_k"] * delta(pairs["code_c"].to_numpy(), pairs["code_k"].to_numpy())
    )
    items = cells.groupby("item_id")["n"].sum().rename("judgements").to_frame()
    items["disagreement"] = pairs.groupby("item_id")["weighted"].sum() / (
        items["judgements"] * (items["judgements"] - 1)
    )
    total = counts.sum()
    expected = _expected_sum(counts, delta, positions) / (total * (total - 1))
    return items.reset_index(), expected


def krippendorff_alpha(judgements: pd.DataFrame, level: Level = "nominal") -> float:
    """Krippendorff's alpha, 1 - D_o / D_e, over pairable items; missing judgements allowed.

    Returns nan when alpha is undefined: no item has two judgements, or all pairable values are
    identical (D_e = 0, no disagreement is possible). Ordinal uses the labels' sort order
    (category order for an ordered categorical); interval and ratio need numeric labels.
    """
    items, expected = _disagreement(_prepared(judgements, level), level)
    if not expected > 0:
        return float("nan")
    observed = (items["judgements"] * items["disagreement"]).sum() / items["judgements"].sum()
    return float(1 - observed / expected)


def fleiss_kappa(judgements: pd.DataFrame) -> float | None:
    """Fleiss' kappa on nominal labels; None unless every item has the same number (>= 2).

    Returns nan when every judgement carries the same label (chance agreement is 1).
    """
    frame = validate_judgements(judgements)
    sizes = frame.groupby("item_id").size()
    raters = int(sizes.iloc[0])
    if raters < 2 or (sizes != raters).any():
        return None
    cells = frame.groupby(["item_id", "label"], observed=True).size()
    observed = ((cells**2).sum() - cells.sum()) / (cells.sum() * (raters - 1))
    chance = float(((cells.groupby(level="label", observed=True).sum() / cells.sum()) ** 2).sum())
    if chance == 1:
        return float("nan")
    return float((observed - chance) / (1 - chance))


def item_agreement(judgements: pd.DataFrame, level: Level = "nominal") -> pd.DataFrame:
    """Per item: item_id, judgements, agreement; for nominal also majority_label, majority_share.

    Nominal agreement is the share of agreeing pairs among the item's judgements. Other levels
    score 1 - D_o(item) / D_e clipped to [0, 1]: the item's mean pairwise delta against alpha's
    expected delta, so the judgement-weighted mean of the unclipped scores is alpha. An item
    whose judgements all coincide scores 1; an item with one judgement scores nan.
    """
    frame = _prepared(judgements, level)
    items, expected = _disagreement(frame, level)
    result = (
        frame.groupby("item_id")
        .size()
        .rename("judgements")
        .reset_index()
        .merge(items[["item_id", "disagreement"]], on="item_id", how="left")
    )
    disagreement = result.pop("disagreement")
    if level == "nominal":
        result["agreement"] = 1 - disagreement
        majority = majority_vote(frame)[["item_id", "label", "share"]]
        return result.merge(
            majority.rename(columns={"label": "majority_label", "share": "majority_share"}),
            on="item_id",
        )
    result["agreement"] = (1 - disagreement / expected).clip(0, 1).mask(disagreement == 0, 1.0)
    return result


def _reference(reference: pd.DataFrame, level: Level) -> pd.DataFrame:
    """Reference labels (item_id, reference) with one row per item, numeric for numeric levels."""
    missing = [column for column in ("item_id", "label") if column not in reference.columns]
    if missing:
        raise ValueError(f"reference labels lack column(s) {missing}")
    frame = reference.loc[reference["label"].notna(), ["item_id", "label"]]
    if frame["item_id"].duplicated().any():
        raise ValueError("reference labels have more than one row for an item")
    frame = frame.rename(columns={"label": "reference"})
    frame["reference"] = frame["reference"].infer_objects()
    if level in _NUMERIC_LEVELS:
        frame["reference"] = numeric_labels(frame["reference"], f"level {level!r}")
    return frame


def _scores(
    frame: pd.DataFrame, reference: pd.DataFrame, level: Level
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Judgements on referenced items, and per annotator their count and score.

    The score is `agreement` (share equal to the reference) or, for the numeric levels,
    `mean_absolute_error`; an annotator without referenced judgements gets 0 and nan.
    """
    merged = frame.merge(reference, on="item_id", how="inner")
    if level in _NUMERIC_LEVELS:
        score = "mean_absolute_error"
        merged[score] = (merged["label"] - merged["reference"]).abs()
    else:
        score = "agreement"
        merged[score] = merged["label"].to_numpy(object) == merged["reference"].to_numpy(object)
    annotators = frame.groupby("annotator_id").size().index
    grouped = merged.groupby("annotator_id")[score]
    result = pd.DataFrame(
        {
            "judgements": grouped.size().reindex(annotators, fill_value=0),
            score: grouped.mean().astype(float).reindex(annotators),
        }
    )
    return merged, result.reset_index()


def _cohen_kappa(merged: pd.DataFrame) -> pd.Series:
    """Per annotator: Cohen's kappa between its labels and the reference labels of its items."""
    per_annotator = merged.groupby("annotator_id").size()
    given = merged.groupby(["annotator_id", "label"], observed=True).size()
    reference = merged.groupby(["annotator_id", "reference"], observed=True).size()
    reference.index = reference.index.set_names(["annotator_id", "label"])
    chance = (given * reference).groupby(level="annotator_id").sum() / per_annotator**2
    observed = merged.groupby("annotator_id")["agreement"].mean()
    return (observed - chance) / (1 - chance)


def annotator_agreement(
    judgements: pd.DataFrame, consensus: pd.DataFrame, level: Level = "nominal"
) -> pd.DataFrame:
    """Per annotator: agreement with consensus labels (a frame with item_id, label).

    Columns: annotator_id, judgements (on items with a consensus label), then for nominal and
    ordinal `agreement` (share equal to the consensus) and `kappa` (Cohen's kappa against the
    consensus on the same items), for interval and ratio `mean_absolute_error`.
    """
    frame = _prepared(judgements, level)
    merged, result = _scores(frame, _reference(consensus, level), level)
    if level not in _NUMERIC_LEVELS:
        kappa = _cohen_kappa(merged)
        result["kappa"] = result["annotator_id"].map(kappa).astype(float)
    return result


def gold_accuracy(
    judgements: pd.DataFrame, gold: Mapping[str, Any], level: Level = "nominal"
) -> pd.DataFrame:
    """Per annotator: annotator_id, gold_judgements and the score on gold items.

    `gold` maps item_id to the true label. The score is `accuracy` for nominal and ordinal and
    `mean_absolute_error` for interval and ratio; nan for an annotator without gold judgements.
    """
    if not gold:
        raise ValueError("gold is empty: no item has a known label")
    frame = _prepared(judgements, level)
    reference = pd.DataFrame({"item_id": list(gold), "label": list(gold.values())})
    _, result = _scores(frame, _reference(reference, level), level)
    return result.rename(columns={"judgements": "gold_judgements", "agreement": "accuracy"})
