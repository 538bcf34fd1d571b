"""The demo: census data, a deliberately flawed generator, rounds of feedback that repair it,
and a round made worse on purpose that the demo rolls back.

Expected values come from what the demo plants (its module docstring: the missing
`Self-emp-not-inc` slice, `age` shifted by 8, women's `>50K` rate cut to 2%, 20% duplicate
rows), from the thresholds in docs/metrics.md, and from numbers computed here with pandas and
scipy on the shipped census sample and the stored synthetic rows, never from the report alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
from scipy import stats

from validation_loop.demo import demo_frame, flawed_config, run_demo, setup_demo
from validation_loop.feedback.versions import (
    current_version,
    list_versions,
    load_config,
    next_version,
    proposals,
    save_config,
)
from validation_loop.home import Home, LoopLayout
from validation_loop.spec import Task, load_spec, save_spec
from validation_loop.warehouse import Warehouse

# What the demo plants (validation_loop/demo.py, README "Two commands").
MISSING_SLICE = {"workclass": "Self-emp-not-inc"}
SHIFTED, SHIFT = "age", 8.0
WOMEN = {"sex": "Female"}
PLANTED_WOMEN_RATE = 0.02
PLANTED_DUPLICATES = 0.2
# Warn and error thresholds of the rules that grade them (docs/metrics.md, "Default rules").
KS = (0.1, 0.2)
RATE_GAP = (0.05, 0.1)
DUPLICATE_EXCESS = (0.02, 0.1)
SHARE_RATIO_WARN = (0.5, 2.0)  # below and above 1
NOISE = 0.01  # the score's round-to-round noise the demo allows (README "Two commands")


def _severity(effect: float, warn: float, error: float) -> str:
    """The documented severity of an effect that is clearly significant (higher is worse)."""
    return "error" if effect >= error else "warn" if effect >= warn else "info"


def _report(home: Home, report_id: str) -> dict[str, Any]:
    """A stored report's JSON document."""
    with Warehouse(home.warehouse_path).read() as con:
        row = con.execute(
            "SELECT document FROM gap_reports WHERE report_id = ?", [report_id]
        ).fetchone()
    assert row is not None
    return json.loads(row[0])


def _synthetic_rows(home: Home, report: dict[str, Any]) -> pd.DataFrame:
    """The stored synthetic rows a report compared."""
    with Warehouse(home.warehouse_path).read() as con:
        return con.execute(
            "SELECT * EXCLUDE (_batch_id, _row) FROM adult.synthetic "
            "WHERE list_contains(?, _batch_id)",
            [report["synthetic_batches"]],
        ).df()


def _record(report: dict[str, Any], metric: str, columns: set[str], where: Any = None) -> dict:
    """The report's one record of this metric on these columns (in any order) and slice."""
    (record,) = [
        r
        for r in report["metrics"]
        if r["metric"] == metric and set(r["columns"]) == columns and r["slice"] == where
    ]
    return record


def _compared(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns the loop compares: all but the id column."""
    return frame.drop(columns="person_id")


def _women_rate(frame: pd.DataFrame) -> float:
    """The share of `>50K` among women."""
    women = frame[frame["sex"] == "Female"]
    return float((women["income"] == ">50K").mean())


def _duplicate_share(frame: pd.DataFrame) -> float:
    """Rows repeating an earlier row on every compared column, over all rows."""
    return float(_compared(frame).duplicated().mean())


def _slice_share(frame: pd.DataFrame) -> float:
    """The missing slice's share of the rows that have a workclass."""
    workclass = frame["workclass"].dropna()
    return float((workclass == MISSING_SLICE["workclass"]).mean())


def test_demo_frame_is_the_shipped_census_sample() -> None:
    frame = demo_frame()
    assert frame.shape == (6000, 15)
    assert set(frame["income"]) == {"<=50K", ">50K"}
    assert {"sex", "race", "workclass"} <= set(frame.columns)


def test_setup_demo_writes_spec_and_human_batches(home: Home) -> None:
    layout = setup_demo(home)
    spec = load_spec(layout.spec_path)
    assert spec.task is Task.classification
    assert (spec.label, spec.id_column) == ("income", "person_id")
    assert spec.sensitive == ["sex", "race"] and spec.slices[0] == "workclass"
    files = sorted(layout.landing("human").glob("*.csv"))
    assert [f.name for f in files] == ["adult_human_01.csv", "adult_human_02.csv"]
    together = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    pd.testing.assert_frame_equal(together, demo_frame())
    assert list(layout.landing("synthetic").iterdir()) == []


def test_flawed_config_plants_the_four_flaws(home: Home) -> None:
    spec = load_spec(setup_demo(home).spec_path)
    config = flawed_config(demo_frame(), spec)
    assert "Self-emp-not-inc" not in config.slice_weights
    assert "Self-emp-not-inc" not in config.label_model
    assert {m.shift for m in config.columns["age"].marginals.values()} == {8.0}
    assert config.label_by_group["sex"]["Female"] == {">50K": 0.02, "<=50K": 0.98}
    assert config.duplicate_rate == 0.2


def test_first_round_reports_every_planted_flaw(demo_run: dict[str, Any]) -> None:
    home, first = demo_run["home"], demo_run["rounds"][0]
    report = _report(home, first.report_html.stem)
    human, synthetic = demo_frame(), _synthetic_rows(home, report)
    assert (report["generator_version"], report["human_rows"]) == ("v0001", len(human))

    # The missing slice: no synthetic row has it, so its share ratio is 0, an error.
    assert _slice_share(human) > 0.05 and _slice_share(synthetic) == 0.0
    missing = _record(report, "slice_share_ratio", {"workclass"}, MISSING_SLICE)
    assert (missing["kind"], missing["value"], missing["severity"]) == ("coverage", 0.0, "error")
    assert "Self-emp-not-inc" in missing["message"] and missing in report["gaps"]

    # The shifted column: KS statistic as scipy computes it, graded by the KS rule.
    ks = stats.ks_2samp(human[SHIFTED].dropna(), synthetic[SHIFTED].dropna()).statistic
    assert synthetic[SHIFTED].median() - human[SHIFTED].median() == pytest.approx(SHIFT, abs=2)
    shifted = _record(report, "ks", {SHIFTED})
    assert shifted["value"] == pytest.approx(ks, abs=1e-9)
    assert shifted["severity"] == _severity(ks, *KS) == "error"

    # The biased label rate: women's >50K rate near the planted 2%, human ~11%.
    assert _women_rate(synthetic) == pytest.approx(PLANTED_WOMEN_RATE, abs=0.01)
    gap = _women_rate(synthetic) - _women_rate(human)
    biased = _record(report, "group_outcome_gap", {"sex", "income"}, WOMEN)
    assert biased["value"] == pytest.approx(gap, abs=1e-9)
    assert biased["severity"] == _severity(abs(gap), *RATE_GAP) != "info"

    # The duplicates: about 20% of synthetic rows repeat an earlier one.
    assert _duplicate_share(synthetic) == pytest.approx(PLANTED_DUPLICATES, abs=0.02)
    excess = _duplicate_share(synthetic) - _duplicate_share(human)
    duplicates = _record(report, "duplicate_rate_excess", set(_compared(human).columns))
    assert duplicates["value"] == pytest.approx(excess, abs=1e-9)
    assert duplicates["severity"] == _severity(excess, *DUPLICATE_EXCESS) == "error"


def test_accepting_the_proposal_repairs_each_planted_flaw(demo_run: dict[str, Any]) -> None:
    home, rounds = demo_run["home"], demo_run["rounds"]
    human = demo_frame()
    assert (rounds[0].proposal, rounds[1].version) == ("v0002", "v0002")
    repaired = load_config(home.loop("adult"), "v0002")
    assert repaired.parent == "v0001"
    all_rows_share = float((human["workclass"] == "Self-emp-not-inc").mean())
    assert repaired.slice_weights["Self-emp-not-inc"] == pytest.approx(all_rows_share, abs=1e-6)
    assert {m.shift for m in repaired.columns["age"].marginals.values()} == {0.0}
    women = repaired.label_by_group["sex"]["Female"]
    assert women[">50K"] == pytest.approx(_women_rate(human), abs=1e-6)
    assert repaired.duplicate_rate == 0.0

    for later in rounds[1:]:  # every round after the first: the planted gaps are closed
        report = _report(home, later.report_html.stem)
        synthetic = _synthetic_rows(home, report)
        ratio = _slice_share(synthetic) / _slice_share(human)
        missing = _record(report, "slice_share_ratio", {"workclass"}, MISSING_SLICE)
        assert missing["value"] == pytest.approx(ratio, abs=1e-9)
        assert SHARE_RATIO_WARN[0] < ratio < SHARE_RATIO_WARN[1] and missing["severity"] == "info"
        ks = stats.ks_2samp(human[SHIFTED].dropna(), synthetic[SHIFTED].dropna()).statistic
        shifted = _record(report, "ks", {SHIFTED})
        assert shifted["value"] == pytest.approx(ks, abs=1e-9)
        assert ks < KS[0] and shifted["severity"] == "info"
        gap = _women_rate(synthetic) - _women_rate(human)
        biased = _record(report, "group_outcome_gap", {"sex", "income"}, WOMEN)
        assert biased["value"] == pytest.approx(gap, abs=1e-9)
        assert abs(gap) < RATE_GAP[0] and biased["severity"] == "info"
        excess = _duplicate_share(synthetic) - _duplicate_share(human)
        duplicates = _record(report, "duplicate_rate_excess", set(_compared(human).columns))
        assert duplicates["value"] == pytest.approx(excess, abs=1e-9)
        assert excess < DUPLICATE_EXCESS[0] and duplicates["severity"] == "info"


def test_demo_prints_a_line_per_round_and_ends_converged(demo_run: dict[str, Any]) -> None:
    home, rounds, lines = demo_run["home"], demo_run["rounds"], demo_run["lines"]
    assert [r.version for r in rounds] == [f"v{n:04d}" for n in range(1, len(rounds) + 1)]
    assert 2 <= len(rounds) < 5  # fewer rounds than allowed: it converged
    for number, (line, done) in enumerate(zip(lines, rounds, strict=False), start=1):
        assert line.startswith(f"round {number}: generator {done.version}  score {done.score:.3f}")
    scores = [r.score for r in rounds]
    assert scores[1] > scores[0] + 0.03, scores  # closing the planted flaws is worth that much
    for number in range(1, len(rounds)):  # the normal demo never falls back
        assert scores[number] >= max(scores[:number]) - NOISE, scores
    assert lines[len(rounds)].startswith("converged: no gap left that a config change can close")
    layout = home.loop("adult")
    assert current_version(layout) == rounds[-1].version and proposals(layout) == []
    assert lines[len(rounds) + 1 :] == [f"current generator config: {rounds[-1].version}"]
    assert rounds[-1].report_html.is_file()


def _variant(layout: LoopLayout, proposal: str, duplicate_rate: float) -> str:
    """Store the proposal with another duplicate rate as the next version; returns its name."""
    config = load_config(layout, proposal)
    changed = config.model_copy(
        update={"version": next_version(layout), "duplicate_rate": duplicate_rate}
    )
    save_config(layout, changed)
    return changed.version


def test_a_round_made_worse_on_purpose_is_rolled_back_to_the_best(tmp_path: Path) -> None:
    """Round 2 runs the proposal with the planted duplicates kept (better than round 1, not
    converged); round 3 runs the next proposal with 90% duplicate rows, which must lower the
    score (its diversity component falls from about 0.8 to about 0.1, one of five components:
    about -0.14, far beyond the noise). The demo makes round 2's version current again and
    stops, though four rounds were allowed."""
    home = Home(tmp_path / "home")
    layout = setup_demo(home)
    spec = load_spec(layout.spec_path)
    spec.models.enabled = False  # speed; the rollback does not depend on the model checks
    save_spec(spec, layout.spec_path)
    rates = [PLANTED_DUPLICATES, 0.9]
    lines: list[str] = []
    with dg.instance_for_test() as instance:
        rounds = run_demo(
            home,
            4,
            lines.append,
            instance=instance,
            choose_next=lambda layout, proposal: _variant(layout, proposal, rates.pop(0)),
        )

    assert [(r.version, r.proposal) for r in rounds] == [
        ("v0001", "v0002"),
        ("v0003", "v0004"),  # v0003: v0002 with the planted duplicates kept
        ("v0005", "v0006"),  # v0005: v0004 with 90% duplicates
    ]
    shares = [
        _duplicate_share(_synthetic_rows(home, _report(home, r.report_html.stem))) for r in rounds
    ]
    assert shares[1] == pytest.approx(PLANTED_DUPLICATES, abs=0.02)
    assert shares[2] == pytest.approx(0.9, abs=0.02)
    first, best, worse = (r.score for r in rounds)
    assert best > first and worse < best - NOISE

    assert current_version(layout) == "v0003"  # the best round's version, not the first
    log = [
        json.loads(line) for line in (layout.generator / "accepted.jsonl").read_text().splitlines()
    ]
    assert [(e["version"], e["previous"], e["by"]) for e in log[-2:]] == [
        ("v0005", "v0003", "demo"),
        ("v0003", "v0005", "demo"),
    ]
    assert list_versions(layout) == [f"v{n:04d}" for n in range(1, 7)]  # nothing deleted
    assert proposals(layout) == ["v0006"]  # the last round's proposal waits for a person
    assert lines[3:] == [
        f"worse than v0003 (score {best:.3f}) beyond noise: back to v0003",
        "current generator config: v0003",
    ]
