"""A 300-column comparison end to end: ingest, gaps within the pair budget, report, rendering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from validation_loop.gaps.compute import compute_gaps
from validation_loop.gaps.selection import comparison_of
from validation_loop.gaps.store import store_gaps
from validation_loop.home import Home
from validation_loop.ingest import ingest_file
from validation_loop.render.report import report_html, report_markdown
from validation_loop.report.build import PLOTTED_COLUMNS, build_report
from validation_loop.spec import parse_spec, save_spec
from validation_loop.warehouse import Warehouse

NUMERIC = [f"x{k}" for k in range(240)]
CATEGORICAL = [f"c{k}" for k in range(57)]
FACTORS = 20
LOADINGS = (0.3, 0.9, 0.5, 0.95)  # by block of FACTORS numeric columns


def _side(rows: int, seed: int, synthetic: bool) -> pd.DataFrame:
    """Numeric columns loaded on 20 factors, categorical ones cut from them; the synthetic side
    has `x60` (0.95 on factor 0) cut loose from its factor, so its correlation of 0.86 with
    `x20` (0.9 on factor 0) is gone while its marginal stays the same, and `x7` shifted."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(rows, FACTORS))
    data: dict[str, np.ndarray] = {}
    for k, name in enumerate(NUMERIC):
        loading = LOADINGS[k // FACTORS % len(LOADINGS)]
        factor = rng.normal(size=rows) if synthetic and name == "x60" else factors[:, k % FACTORS]
        data[name] = loading * factor + np.sqrt(1 - loading**2) * rng.normal(size=rows)
    if synthetic:
        data["x7"] += 1.0
    for k, name in enumerate(CATEGORICAL):
        levels = 3 + k % 5
        raw = factors[:, 3 * k % FACTORS] + rng.normal(size=rows)
        codes = np.clip(np.floor(raw * 1.2 + levels / 2), 0, levels - 1).astype(int)
        data[name] = np.array([f"v{c}" for c in range(levels)])[codes]
    data["seg"] = rng.choice(["a", "b", "c"], rows)
    data["sex"] = rng.choice(["F", "M"], rows)
    data["label"] = np.where(factors[:, 1] + rng.normal(size=rows) > 0.5, "yes", "no")
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A home with a 300-column loop, one human and one synthetic batch, compared (without
    the expectation suites, which are not what this test is about)."""
    root = tmp_path_factory.mktemp("wide")
    home = Home(root / "home")
    spec = parse_spec(
        {
            "name": "wide",
            "task": "classification",
            "label": "label",
            "columns": {
                **dict.fromkeys(NUMERIC, "numeric"),
                **dict.fromkeys([*CATEGORICAL, "seg", "sex", "label"], "categorical"),
            },
            "slices": ["seg"],
            "sensitive": ["sex"],
            "models": {"enabled": False},
        },
        "test",
    )
    save_spec(spec, home.loop(spec.name).spec_path)
    batches = []
    for source, seed in (("human", 1), ("synthetic", 2)):
        path = root / f"{source}.parquet"
        _side(1500, seed, source == "synthetic").to_parquet(path)
        batches.append(ingest_file(home, spec, path, source).batch.batch_id)  # type: ignore[arg-type]
    with Warehouse(home.warehouse_path).write() as con:
        comparison = comparison_of(con, spec, batches[:1], batches[1:], None)
        result = compute_gaps(con, spec, comparison.human_sql, comparison.synthetic_sql)
        store_gaps(con, spec.name, comparison, result)
    return home, spec, result


def test_wide_comparison_tests_the_budget_and_finds_the_planted_pair(wide) -> None:
    _, spec, result = wide
    (note,) = [r for r in result.records if r.metric == "pairs_tested"]
    assert note.value == spec.max_pairs == 2000
    assert note.message.startswith("2,000 of 44,850 column pairs tested")
    assert "894 of the 894 pairs with a slice, sensitive or label column" in note.message
    pair_records = [
        r for r in result.records if r.metric in ("pearson_difference", "contingency_difference")
    ]
    assert len({tuple(r.columns) for r in pair_records}) == 2000
    errors = {(r.metric, tuple(r.columns)) for r in result.gaps if r.severity == "error"}
    assert ("pearson_difference", ("x20", "x60")) in errors
    assert ("spearman_difference", ("x20", "x60")) in errors
    assert not any(r.kind == "marginal" and "x60" in r.columns for r in result.gaps)


def test_wide_report_builds_and_renders_bounded(wide) -> None:
    home, spec, _ = wide
    report = build_report(home, spec)
    assert report is not None
    assert 0 < len(report["distributions"]) <= PLOTTED_COLUMNS
    markdown, html = report_markdown(report), report_html(report)
    assert "**pairs tested**: 2,000 of 44,850 column pairs tested" in markdown
    assert "2,000 of 44,850 column pairs tested" in html
    assert html.count("<figure>") == len(report["distributions"])
