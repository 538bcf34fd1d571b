"""Label quality of a long-format loop: agreement, consensus truth, flagged items."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from validation_loop.gaps.selection import current_comparison
from validation_loop.ingest import ingest_file
from validation_loop.quality.labels import assess, refresh_label_quality
from validation_loop.quality.validation import validate_batch
from validation_loop.spec import parse_spec
from validation_loop.warehouse import Warehouse
from validation_loop_tests.conftest import SPEC

LONG = {**SPEC, "annotations": {"format": "long", "annotator_column": "annotator"}}


def _judgements(labels_by_item: dict[str, list[str]]) -> list[dict]:
    return [
        {
            "customer_id": item,
            "annotator": f"a{i}",
            "age": 30 + n,
            "region": "north",
            "active": "yes",
            "signup": "2024-01-01",
            "churned": label,
        }
        for n, (item, labels) in enumerate(labels_by_item.items())
        for i, label in enumerate(labels)
    ]


def test_flagged_items_leave_the_truth_and_consensus_is_used(home, write_batch) -> None:
    spec = parse_spec(LONG, "x")
    votes = {f"c{i}": ["yes", "yes", "yes"] for i in range(8)}
    votes |= {"split": ["yes", "no", "no"], "tie": ["no", "yes"]}
    for name, rows, source in (
        ("long.csv", _judgements(votes), "human"),
        ("syn.csv", _judgements({"s1": ["yes"]}), "synthetic"),
    ):
        batch = ingest_file(home, spec, write_batch(name, rows), source).batch
        validate_batch(home, spec, batch.batch_id)
    quality = refresh_label_quality(home, spec)
    assert quality is not None
    items = quality.items.set_index("item_id")
    assert items.loc["split", "agreement"] == pytest.approx(1 / 3)
    assert bool(items.loc["split", "flagged"]) and bool(items.loc["tie", "flagged"])
    assert quality.flagged == 2
    assert quality.summary()["judgements"] == 3 * 9 + 2
    with Warehouse(home.warehouse_path).read() as con:
        comparison = current_comparison(con, spec)
        assert comparison is not None
        truth = con.execute(f"SELECT customer_id, churned FROM ({comparison.human_sql})").fetchall()
    assert sorted(truth) == [(f"c{i}", "yes") for i in range(8)]


def test_alpha_and_dawid_skene_option() -> None:
    spec = parse_spec({**LONG, "quality": {"consensus": "dawid_skene"}}, "x")
    frame = pd.DataFrame(
        [
            (f"i{k}", f"a{a}", "yes" if (k + (a == 2)) % 2 else "no")
            for k in range(30)
            for a in range(3)
        ],
        columns=["item_id", "annotator_id", "label"],
    )
    quality = assess(frame, spec)
    assert -1 <= quality.alpha <= 1 and not math.isnan(quality.alpha)
    assert quality.fleiss_kappa is not None
    annotators = quality.annotators.set_index("annotator_id")
    assert annotators.loc["a2", "agreement"] < annotators.loc["a0", "agreement"]


def test_gold_accuracy_when_the_spec_names_gold_items() -> None:
    spec = parse_spec({**LONG, "quality": {"gold": {"i1": "yes", "i2": "no"}}}, "x")
    frame = pd.DataFrame(
        [("i1", "a", "yes"), ("i1", "b", "no"), ("i2", "a", "no"), ("i2", "b", "no")],
        columns=["item_id", "annotator_id", "label"],
    )
    gold = assess(frame, spec).gold.set_index("annotator_id")
    assert gold.loc["a", "accuracy"] == 1.0 and gold.loc["b", "accuracy"] == 0.5
