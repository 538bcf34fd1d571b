"""Time per stage of the statistical gap checks and of the report on wide tables.

Usage: python benchmarks/wide_gaps_benchmark.py [--shapes 300x2000,1000x5000] [--max-pairs 2000]

Builds, per shape (columns x rows per side), a warehouse file with a human and a synthetic
table made in DuckDB: 80% numeric columns loaded on 50 latent factors (so there are strong and
weak associations), categorical columns cut from the same factors, two slice columns, a
sensitive attribute and a binary label. The synthetic side has planted gaps: `x150` no longer
follows its factor (its correlation of 0.86 with `x50` is gone, its marginal unchanged), `x7`
is shifted by half a standard deviation and `c3` lost a category. Then, in a fresh child
process, it runs `compute_gaps` (model checks off), the report's distributions of the plotted
columns and the Markdown and HTML rendering, and prints seconds per stage and peak RSS.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import duckdb
from measure import run_child

from validation_loop.spec import parse_spec, save_spec

FACTORS = 50
LOADINGS = (0.3, 0.9, 0.5, 0.95)  # by block of FACTORS numeric columns

CHILD = """
import json, sys, time
from pathlib import Path
import duckdb
from validation_loop.gaps.compute import compute_gaps
from validation_loop.gaps.selection import Comparison
from validation_loop.report.build import _plotted_columns
from validation_loop.report.distributions import distributions
from validation_loop.render.report import report_html, report_markdown
from validation_loop.spec import load_spec
spec = load_spec(Path(sys.argv[2]))
con = duckdb.connect(sys.argv[1], read_only=True)
started = time.perf_counter()
result = compute_gaps(con, spec, "SELECT * FROM human", "SELECT * FROM synthetic")
seconds = time.perf_counter() - started
records = [r.to_dict() for r in result.records]
started = time.perf_counter()
sides = Comparison([], [], None, "SELECT * FROM human", "SELECT * FROM synthetic")
plots = distributions(con, spec, sides, _plotted_columns(records, spec))
distribution_seconds = time.perf_counter() - started
report = {
    "loop": spec.name, "report_id": "r", "created_at": "now", "generator_version": None,
    "human_batches": ["h"], "synthetic_batches": ["s"], "human_rows": result.human_rows,
    "synthetic_rows": result.synthetic_rows, "score": 0.5, "score_components": {},
    "counts": result.counts(), "gaps": [r for r in records if r["severity"] != "info"],
    "metrics": records, "recommendations": [], "quality": {"batches": []}, "history": [],
    "distributions": plots,
}
started = time.perf_counter()
markdown, html = report_markdown(report), report_html(report)
render_seconds = time.perf_counter() - started
pairs = [r["value"] for r in records if r["metric"] == "pairs_tested"]
planted = sorted({(r.metric, tuple(r.columns)) for r in result.gaps
                  if r.kind == "pairwise" and set(r.columns) == {"x50", "x150"}})
print(json.dumps({"seconds": seconds, "stages": result.seconds, "counts": result.counts(),
                  "records": len(records), "pairs_tested": pairs, "planted_pair_gaps": planted,
                  "distribution_seconds": distribution_seconds, "plotted": len(plots),
                  "render_seconds": render_seconds, "html_kib": len(html) // 1024,
                  "markdown_kib": len(markdown) // 1024, "peak_kib": peak_kib()}))
"""


def _uniform(row: str, key: int, seed: int) -> str:
    """SQL for a uniform value in (0, 1) from a hash of the row, a key and a seed."""
    return f"((hash({row}, {key}, {seed}) % 999983) + 0.5) / 999983.0"


def _normal(row: str, key: int, seed: int) -> str:
    """SQL for a standard normal value (Box-Muller on two hashed uniforms)."""
    return (
        f"sqrt(-2 * ln({_uniform(row, key, seed)})) * "
        f"cos(2 * pi() * {_uniform(row, key + 7_000_000, seed)})"
    )


def column_names(columns: int) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature names of a shape (slices, sensitive, label come extra)."""
    features = columns - 4
    numeric = int(features * 0.8)
    return [f"x{k}" for k in range(numeric)], [f"c{k}" for k in range(features - numeric)]


def table_sql(columns: int, rows: int, seed: int, synthetic: bool) -> str:
    """One side of the benchmark as SQL; the synthetic side carries the planted gaps."""
    numeric, categorical = column_names(columns)
    factors = ", ".join(f"{_normal('i', 1_000 + g, seed)} AS f{g}" for g in range(FACTORS))
    parts = []
    for k, name in enumerate(numeric):
        loading = LOADINGS[k // FACTORS % len(LOADINGS)]
        factor = f"f{k % FACTORS}"
        if synthetic and name == "x150":
            factor = _normal("i", 9_999, seed)
        value = f"{loading} * {factor} + {(1 - loading**2) ** 0.5:.4f} * {_normal('i', k, seed)}"
        if synthetic and name == "x7":
            value += " + 0.5"
        parts.append(f"{value} AS {name}")
    for k, name in enumerate(categorical):
        levels = 3 + k % 6
        raw = f"f{(k * 3) % FACTORS} + {_normal('i', 5_000 + k, seed)}"
        code = f"least({levels - 1}, greatest(0, CAST(floor(({raw}) * 1.2 + {levels / 2}) AS INT)))"
        if synthetic and name == "c3":
            code = f"greatest(1, {code})"
        parts.append(f"'v' || {code} AS {name}")
    parts += [
        f"'s' || (hash(i, 20, {seed}) % 4) AS seg",
        f"'r' || (hash(i, 21, {seed}) % 6) AS region",
        f"CASE WHEN hash(i, 22, {seed}) % 2 = 0 THEN 'F' ELSE 'M' END AS sex",
    ]
    label = f"CASE WHEN f0 + {_normal('i', 23, seed)} > 0.8 THEN 'yes' ELSE 'no' END AS label"
    return (
        f"SELECT {', '.join(parts)}, {label}, 'b{seed}' AS _batch_id, i AS _row "
        f"FROM (SELECT i, {factors} FROM range({rows}) t(i))"
    )


def spec_for(columns: int, max_pairs: int) -> dict[str, object]:
    """The loop spec of a shape."""
    numeric, categorical = column_names(columns)
    return {
        "name": "wide",
        "task": "classification",
        "label": "label",
        "columns": {
            **dict.fromkeys(numeric, "numeric"),
            **dict.fromkeys([*categorical, "seg", "region", "sex", "label"], "categorical"),
        },
        "slices": ["seg", "region"],
        "sensitive": ["sex"],
        "models": {"enabled": False},
        "max_pairs": max_pairs,
    }


def main() -> None:
    """Build each shape's warehouse, run it in a child process, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="300x2000,1000x5000")
    parser.add_argument("--max-pairs", type=int, default=2_000)
    args = parser.parse_args()
    for shape in args.shapes.split(","):
        columns, rows = (int(v) for v in shape.split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            database = Path(tmp) / "wide.duckdb"
            spec_path = Path(tmp) / "wide" / "loop.yaml"
            save_spec(parse_spec(spec_for(columns, args.max_pairs), "benchmark"), spec_path)
            con = duckdb.connect(str(database))
            con.execute(f"CREATE TABLE human AS {table_sql(columns, rows, 1, False)}")
            con.execute(f"CREATE TABLE synthetic AS {table_sql(columns, rows, 2, True)}")
            con.close()
            result = run_child(CHILD, str(database), str(spec_path))
        print(
            f"{columns} columns x {rows} rows: gaps {result['seconds']:.2f} s, "
            f"peak_rss {result['peak_kib'] / 1024:.0f} MiB, {result['records']} records, "
            f"counts {result['counts']}"
        )
        print(f"    stages: {result['stages']}")
        print(f"    pairs tested: {result['pairs_tested']}")
        print(f"    planted pair x50/x150 found as: {result['planted_pair_gaps']}")
        print(
            f"    report: distributions of {result['plotted']} columns "
            f"{result['distribution_seconds']:.2f} s, rendering {result['render_seconds']:.2f} s "
            f"(HTML {result['html_kib']} KiB, Markdown {result['markdown_kib']} KiB)"
        )


if __name__ == "__main__":
    main()
