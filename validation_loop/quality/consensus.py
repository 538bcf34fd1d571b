"""Consensus labels from long-format human judgements: majority vote, median and Dawid-Skene.

Judgements come one row per judgement with columns `item_id`, `annotator_id` and `label`;
rows with a missing label are missing judgements and are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import softmax

JUDGEMENT_COLUMNS = ("item_id", "annotator_id", "label")
# Pseudo-count added to every confusion and prior cell so unseen cells are not zero.
_SMOOTHING = 0.01


def validate_judgements(judgements: pd.DataFrame) -> pd.DataFrame:
    """The judgements as a fresh frame of the three columns, without rows missing a label.

    Raises ValueError when a column is absent, an id is missing or no judgement is left.
    """
    missing = [column for column in JUDGEMENT_COLUMNS if column not in judgements.columns]
    if missing:
        raise ValueError(f"judgements lack column(s) {missing}; expected {list(JUDGEMENT_COLUMNS)}")
    frame = judgements.loc[judgements["label"].notna(), list(JUDGEMENT_COLUMNS)]
    if frame.empty:
        raise ValueError("no judgements: the frame has no row with a label")
    if frame[["item_id", "annotator_id"]].isna().any(axis=None):
        raise ValueError("judgements have rows with a missing item_id or annotator_id")
    frame = frame.reset_index(drop=True)
    frame["label"] = frame["label"].infer_objects()
    return frame


def numeric_labels(labels: pd.Series, purpose: str) -> pd.Series:
    """The labels as floats; raises ValueError naming `purpose` when they are not numbers."""
    if not pd.api.types.is_numeric_dtype(labels) or pd.api.types.is_bool_dtype(labels):
        raise ValueError(f"{purpose} needs numeric labels, got dtype {labels.dtype}")
    return labels.astype(float)


def majority_vote(judgements: pd.DataFrame) -> pd.DataFrame:
    """Per item: the most frequent label, its votes and share; ties go to the smallest label."""
    frame = validate_judgements(judgements)
    votes = frame.groupby(["item_id", "label"], observed=True).size().rename("votes").reset_index()
    votes["share"] = votes["votes"] / votes.groupby("item_id")["votes"].transform("sum")
    winners = votes.sort_values(
        ["item_id", "votes", "label"], ascending=[True, False, True], kind="stable"
    ).drop_duplicates("item_id")
    return winners.reset_index(drop=True)[["item_id", "label", "votes", "share"]]


def median_consensus(judgements: pd.DataFrame) -> pd.DataFrame:
    """Per item: the median of its numeric (regression) labels."""
    frame = validate_judgements(judgements)
    frame["label"] = numeric_labels(frame["label"], "median_consensus")
    return frame.groupby("item_id")["label"].median().reset_index()


@dataclass(frozen=True)
class DawidSkeneResult:
    """Dawid-Skene estimates: labels with posteriors, per-annotator confusion, class priors."""

    labels: pd.DataFrame
    confusion: dict[str, pd.DataFrame]
    priors: pd.Series
    iterations: int
    converged: bool


def dawid_skene(
    judgements: pd.DataFrame, max_iter: int = 100, tol: float = 1e-6
) -> DawidSkeneResult:
    """Dawid & Skene (1979) EM consensus for nominal labels, started from soft majority vote.

    Each annotator has a confusion matrix P(given label | true label); the M-step adds a
    pseudo-count of 0.01 to every confusion and prior cell. EM stops when no posterior moves by
    `tol` or more, or after `max_iter` rounds. Deterministic; exact ties in the final argmax go
    to the smallest label.
    """
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    frame = validate_judgements(judgements)
    item, items = pd.factorize(frame["item_id"], sort=True)
    annotator, annotators = pd.factorize(frame["annotator_id"], sort=True)
    given, classes = pd.factorize(frame["label"], sort=True)
    n_annotators, n_classes = len(annotators), len(classes)

    counts = np.zeros((len(items), n_classes))
    np.add.at(counts, (item, given), 1.0)
    posterior = counts / counts.sum(axis=1, keepdims=True)
    # Flat index of cell (annotator, true class, given label) for each judgement and true class.
    cell = (annotator[:, None] * n_classes + np.arange(n_classes)) * n_classes + given[:, None]

    iterations, change = 0, np.inf
    while iterations < max_iter and change >= tol:
        iterations += 1
        priors = (posterior.sum(axis=0) + _SMOOTHING) / (len(items) + n_classes * _SMOOTHING)
        confusion = np.bincount(
            cell.ravel(),
            weights=posterior[item].ravel(),
            minlength=n_annotators * n_classes * n_classes,
        ).reshape(n_annotators, n_classes, n_classes)
        confusion += _SMOOTHING
        confusion /= confusion.sum(axis=2, keepdims=True)

        log_posterior = np.tile(np.log(priors), (len(items), 1))
        np.add.at(log_posterior, item, np.log(confusion)[annotator, :, given])
        updated = softmax(log_posterior, axis=1)
        change = np.abs(updated - posterior).max()
        posterior = updated

    class_index = pd.Index(classes, name="label")
    labels = pd.DataFrame(
        {
            "item_id": items,
            "label": class_index[posterior.argmax(axis=1)],
            "posterior": posterior.max(axis=1),
        }
    )
    return DawidSkeneResult(
        labels=labels,
        confusion={
            str(name): pd.DataFrame(
                confusion[j], index=pd.Index(classes, name="true_label"), columns=class_index
            )
            for j, name in enumerate(annotators)
        },
        priors=pd.Series(priors, index=class_index, name="prior"),
        iterations=iterations,
        converged=bool(change < tol),
    )
