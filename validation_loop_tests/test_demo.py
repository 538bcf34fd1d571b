"""The demo: census data, a deliberately flawed generator, and rounds of feedback that fix it."""

from __future__ import annotations

import json

from validation_loop.demo import (
    BIASED_GROUP,
    DUPLICATE_RATE,
    MISSING_SLICE,
    SCORE_NOISE,
    SHIFT,
    SHIFTED_COLUMN,
    demo_frame,
    flawed_config,
    setup_demo,
)
from validation_loop.feedback.versions import current_version, proposals
from validation_loop.spec import Task, load_spec
from validation_loop.warehouse import Warehouse


def test_demo_frame_is_the_shipped_census_sample() -> None:
    frame = demo_frame()
    assert frame.shape == (6000, 15)
    assert set(frame["income"]) == {"<=50K", ">50K"}
    assert {"sex", "race", "workclass"} <= set(frame.columns)


def test_setup_demo_writes_spec_and_human_batches(home) -> None:
    layout = setup_demo(home)
    spec = load_spec(layout.spec_path)
    assert spec.task is Task.classification
    assert (spec.label, spec.id_column) == ("income", "person_id")
    assert spec.sensitive == ["sex", "race"] and spec.slices[0] == "workclass"
    assert len(list(layout.landing("human").glob("*.csv"))) == 2
    assert list(layout.landing("synthetic").iterdir()) == []


def test_flawed_config_plants_the_four_flaws(home) -> None:
    spec = load_spec(setup_demo(home).spec_path)
    config = flawed_config(demo_frame(), spec)
    assert MISSING_SLICE not in config.slice_weights
    assert MISSING_SLICE not in config.label_model
    assert {m.shift for m in config.columns[SHIFTED_COLUMN].marginals.values()} == {SHIFT}
    column, group = BIASED_GROUP
    assert config.label_by_group[column][group][">50K"] == 0.02
    assert config.duplicate_rate == DUPLICATE_RATE


def _planted(home, report_id: str) -> dict[str, str]:
    """The severity of each planted gap in one report."""
    with Warehouse(home.warehouse_path).read() as con:
        rows = con.execute(
            "SELECT metric, columns, slice, severity FROM report_records WHERE report_id = ?",
            [report_id],
        ).fetchall()
    found = {}
    for metric, columns, where, severity in rows:
        where = json.loads(where) if where else None
        if metric == "slice_share_ratio" and where == {"workclass": MISSING_SLICE}:
            found["missing slice"] = severity
        elif metric == "ks" and columns == [SHIFTED_COLUMN]:
            found["shifted column"] = severity
        elif metric == "group_outcome_gap" and where == {BIASED_GROUP[0]: BIASED_GROUP[1]}:
            found["biased label rate"] = severity
        elif metric == "duplicate_rate_excess":
            found["duplicates"] = severity
    return found


def test_demo_rounds_raise_the_score_and_close_the_planted_gaps(demo_run) -> None:
    home, rounds, lines = demo_run["home"], demo_run["rounds"], demo_run["lines"]
    versions = [r.version for r in rounds]
    assert versions[:2] == ["v0001", "v0002"] and versions == sorted(set(versions))
    assert lines[0].startswith("round 1: generator v0001  score ")
    assert len([line for line in lines if line.startswith("round ")]) == len(rounds) >= 2
    scores = [r.score for r in rounds]
    assert all(s is not None for s in scores)
    assert scores[1] > scores[0] + 0.03, scores  # the planted flaws cost that much
    for number in range(1, len(rounds) - 1):  # never worse than the best so far beyond noise
        assert scores[number] >= max(scores[:number]) - SCORE_NOISE, scores
    assert rounds[1].errors < rounds[0].errors
    first = _planted(home, rounds[0].report_html.stem)
    assert first == {
        "missing slice": "error",
        "shifted column": "error",
        "biased label rate": first["biased label rate"],
        "duplicates": "error",
    }
    assert first["biased label rate"] in ("warn", "error")
    for later in rounds[1:]:
        assert set(_planted(home, later.report_html.stem).values()) == {"info"}, later
    assert rounds[-1].report_html.is_file()
    assert lines[-1] == f"current generator config: {current_version(home.loop('adult'))}"


def test_demo_ends_converged_or_rolled_back(demo_run) -> None:
    layout = demo_run["home"].loop("adult")
    lines, last = demo_run["lines"], demo_run["rounds"][-1]
    ended = [line for line in lines if line.startswith(("converged: ", "worse than "))]
    if len(demo_run["rounds"]) < 5:
        assert len(ended) == 1
    if ended and ended[0].startswith("worse than "):
        best = max(demo_run["rounds"], key=lambda r: r.score)
        assert current_version(layout) == best.version
    else:
        assert current_version(layout) == last.version
        assert proposals(layout) == ([last.proposal] if last.proposal else [])
