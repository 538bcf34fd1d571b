"""Quality of a loop's human labels: agreement, consensus, and which items the truth leaves out.

Works on every raw judgement of the loop (`<loop>.judgements`). The consensus label of each item
and whether it is flagged (agreement below `quality.min_item_agreement`) go to
`<loop>.item_quality`; the human truth the gap checks use takes its labels from there and leaves
flagged items out (they stay in the warehouse and are counted).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from validation_loop.home import Home
from validation_loop.quality.agreement import (
    annotator_agreement,
    fleiss_kappa,
    gold_accuracy,
    item_agreement,
    krippendorff_alpha,
)
from validation_loop.quality.consensus import dawid_skene, majority_vote, median_consensus
from validation_loop.spec import LoopSpec, Task
from validation_loop.warehouse import Warehouse, quote_ident, table_exists


@dataclass(frozen=True)
class LabelQuality:
    """Agreement of a loop's annotators and the consensus it leads to."""

    level: str
    alpha: float
    fleiss_kappa: float | None
    items: pd.DataFrame
    annotators: pd.DataFrame
    gold: pd.DataFrame | None

    @property
    def flagged(self) -> int:
        """Items left out of the human truth."""
        return int(self.items["flagged"].sum())

    def summary(self) -> dict[str, Any]:
        """Loop-level figures as JSON-ready data."""
        return {
            "level": self.level,
            "krippendorff_alpha": None if math.isnan(self.alpha) else self.alpha,
            "fleiss_kappa": self.fleiss_kappa,
            "items": len(self.items),
            "flagged_items": self.flagged,
            "annotators": len(self.annotators),
            "judgements": int(self.items["judgements"].sum()),
        }


def _consensus(judgements: pd.DataFrame, spec: LoopSpec) -> pd.DataFrame:
    """item_id and label: the median (regression), Dawid-Skene or majority vote."""
    if spec.task is Task.regression:
        return median_consensus(judgements)
    if spec.quality.consensus == "dawid_skene":
        return dawid_skene(judgements).labels[["item_id", "label"]]
    return majority_vote(judgements)[["item_id", "label"]]


def assess(judgements: pd.DataFrame, spec: LoopSpec) -> LabelQuality:
    """Agreement, consensus and flags from raw judgements (item_id, annotator_id, label)."""
    level = "interval" if spec.task is Task.regression else "nominal"
    consensus = _consensus(judgements, spec)
    items = item_agreement(judgements, level)[["item_id", "judgements", "agreement"]].merge(
        consensus.rename(columns={"label": "consensus"}), on="item_id"
    )
    items["flagged"] = items["agreement"] < spec.quality.min_item_agreement
    gold = spec.quality.gold
    return LabelQuality(
        level=level,
        alpha=krippendorff_alpha(judgements, level),
        fleiss_kappa=fleiss_kappa(judgements) if level == "nominal" else None,
        items=items,
        annotators=annotator_agreement(judgements, consensus, level),
        gold=gold_accuracy(judgements, gold, level) if gold else None,
    )


def has_judgements(home: Home, spec: LoopSpec) -> bool:
    """Whether the loop has any raw judgement yet."""
    with Warehouse(home.warehouse_path).read() as con:
        return table_exists(con, spec.name, "judgements")


def refresh_label_quality(home: Home, spec: LoopSpec) -> LabelQuality | None:
    """Assess every judgement of the loop and rewrite `<loop>.item_quality`; None if none."""
    if not has_judgements(home, spec):
        return None
    warehouse = Warehouse(home.warehouse_path)
    schema = quote_ident(spec.name)
    with warehouse.read() as con:
        judgements = con.execute(
            f"SELECT item_id, annotator_id, label FROM {schema}.judgements"
        ).fetchdf()
    quality = assess(judgements, spec)
    items = quality.items.assign(consensus=quality.items["consensus"].astype(str))
    with warehouse.write() as con:
        con.register("assessed_items", items)
        con.execute(
            f"CREATE OR REPLACE TABLE {schema}.item_quality AS SELECT CAST(item_id AS VARCHAR) "
            "AS item_id, judgements, agreement, consensus, flagged FROM assessed_items"
        )
        con.unregister("assessed_items")
        con.execute(
            "INSERT INTO label_quality VALUES (?, ?, ?)",
            [spec.name, datetime.now(UTC), json.dumps(quality.summary())],
        )
    return quality


def latest_label_quality(con: duckdb.DuckDBPyConnection, loop: str) -> dict[str, Any] | None:
    """The loop's most recent label-quality summary, if it has one."""
    row = con.execute(
        "SELECT summary FROM label_quality WHERE loop = ? ORDER BY computed_at DESC LIMIT 1",
        [loop],
    ).fetchone()
    return json.loads(row[0]) if row else None
