"""The gap report as Markdown (Dagster UI, terminals) and as one offline HTML file with plots."""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

from validation_loop.render.html import STYLE, page, table_html
from validation_loop.render.markdown import code_block, inline, one_line, table_markdown
from validation_loop.render.svg import grouped_bars, horizontal_bars, line_chart
from validation_loop.render.tables import Table, gaps_table

SLICE_METRICS = ("slice_accuracy_drop", "slice_error_increase")
SLICE_BARS = 15
VALUE_CHARS = 140
PLAIN_PART = re.compile(r"[\w*-]+")


def _short(value: Any) -> str:
    """A config value on one line, numbers to 4 significant digits, long values cut."""

    def tidy(v: Any) -> Any:
        if isinstance(v, float):
            return float(f"{v:.4g}")
        if isinstance(v, list):
            return [tidy(x) for x in v]
        if isinstance(v, dict):
            return {k: tidy(x) for k, x in v.items()}
        return v

    text = json.dumps(tidy(value), ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def _path(parts: list[Any]) -> str:
    """A config path as `a.b.c`; a part that is not a plain word (a column named `a.b`, with
    spaces, quotes or line breaks) is written as a JSON string, so the path reads one way."""
    return ".".join(
        p if isinstance(p, str) and PLAIN_PART.fullmatch(p) else json.dumps(p, ensure_ascii=False)
        for p in parts
    )


def diff_lines(recommendation: dict[str, Any]) -> list[str]:
    """The recommendation's config changes as unified-diff style lines, one line each."""
    lines = []
    for change in recommendation["changes"]:
        path = _path(change["path"])
        lines.append(one_line(f"- {path}: {_short(change['old'])}"))
        lines.append(one_line(f"+ {path}: {_short(change['new'])}"))
    return lines


def _facts(report: dict[str, Any]) -> list[tuple[str, Any]]:
    """The summary lines of a report (with how many column pairs were tested, when the pair
    budget left some out)."""
    counts = report["counts"]
    score = report["score"]
    return [
        ("score", "n/a" if score is None else f"{score:.3f} (0..1, higher is closer to human)"),
        (
            "gaps",
            f"{counts['error']} error, {counts['warn']} warn ({len(report['metrics'])} metrics)",
        ),
        ("generator version", report["generator_version"] or "(unversioned)"),
        ("human", f"{len(report['human_batches'])} batch(es), {report['human_rows']} rows"),
        (
            "synthetic",
            f"{len(report['synthetic_batches'])} batch(es), {report['synthetic_rows']} rows",
        ),
        ("report", f"{report['report_id']} ({report['created_at']})"),
        *(
            ("pairs tested", r["message"])
            for r in report["metrics"]
            if r["kind"] == "pairwise" and r["metric"] == "pairs_tested"
        ),
    ]


def _quality_table(report: dict[str, Any]) -> Table:
    """The compared batches' expectation suite results."""
    return Table(
        "Quality of the compared batches",
        ["batch", "expectations", "failed (error)", "failed (warn)", "values changed at ingest"],
        [
            [
                b["batch_id"],
                b["expectations"],
                b["failed_errors"],
                b["failed_warnings"],
                "; ".join(b.get("changed", [])) or "none",
            ]
            for b in report["quality"]["batches"]
        ],
    )


def _recommendation_table(report: dict[str, Any]) -> Table:
    """One row per recommendation."""
    return Table(
        "Recommendations",
        ["severity", "action", "columns", "gaps", "config changes", "note"],
        [
            [
                r["severity"],
                r["action"],
                ", ".join(r["columns"]),
                len(r["gaps"]),
                len(r["changes"]) if r["automated"] else "for a person",
                r["note"],
            ]
            for r in report["recommendations"]
        ],
        empty="nothing to change",
    )


def report_markdown(report: dict[str, Any], limit: int = 20) -> str:
    """The report as Markdown: summary, worst gaps, recommendations with diffs, quality."""
    parts = [f"# Gap report: loop {inline(report['loop'])}", ""]
    parts += [f"- **{name}**: {inline(value)}" for name, value in _facts(report)]
    components = report.get("score_components") or {}
    if components:
        parts.append(
            "- **score components**: " + ", ".join(f"{k} {v:.3f}" for k, v in components.items())
        )
    parts += ["", f"## Top gaps (of {len(report['gaps'])})", ""]
    parts.append(table_markdown(gaps_table(report["gaps"], limit=limit)))
    parts += ["", "## Recommendations", "", table_markdown(_recommendation_table(report))]
    for rec in report["recommendations"]:
        lines = diff_lines(rec)
        if lines:
            columns = inline(", ".join(rec["columns"]))
            parts += ["", f"**{inline(rec['action'])}** ({columns}):", ""]
            parts.append(code_block(lines[: 2 * 8], "diff"))
    parts += ["", "## Quality of the compared batches", "", table_markdown(_quality_table(report))]
    return "\n".join(parts) + "\n"


def _score_section(report: dict[str, Any]) -> str:
    """The score now, its components and its trend over reports."""
    history = report.get("history") or []
    points = [(h["generator_version"] or "?", h["score"]) for h in history[-20:]]
    components = report.get("score_components") or {}
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{v:.3f}</td></tr>" for k, v in components.items())
    chart = line_chart(points, "score by report (generator version)")
    return (
        f"<section><h2>Score and its trend</h2>{chart}"
        f"<table><thead><tr><th>component</th><th>value</th></tr></thead><tbody>{rows}"
        "</tbody></table></section>"
    )


def _marginal_section(report: dict[str, Any]) -> str:
    """Human against synthetic for the gapped columns."""
    charts = []
    for column, data in (report.get("distributions") or {}).items():
        if data["type"] == "numeric":
            edges = data["edges"]
            if not edges:
                continue
            labels = [f"{edges[i]:.4g}" for i in range(len(edges) - 1)]
            chart = grouped_bars(labels, data["human"], data["synthetic"], column, every=4)
        else:
            chart = grouped_bars(data["categories"], data["human"], data["synthetic"], column)
        charts.append(f"<figure><figcaption>{escape(column)}</figcaption>{chart}</figure>")
    body = "".join(charts) or '<p class="empty">no column-level gaps</p>'
    return f"<section><h2>Marginals: human against synthetic</h2>{body}</section>"


def _slice_section(report: dict[str, Any]) -> str:
    """The slices where a synthetic-trained model loses most, as bars."""
    rows = [
        r
        for r in report["metrics"]
        if r["metric"] in SLICE_METRICS and r["severity"] != "info" and r["value"] is not None
    ][:SLICE_BARS]
    if not rows:
        return (
            '<section><h2>Model gaps per slice</h2><p class="empty">no slice where a '
            "synthetic-trained model does significantly worse</p></section>"
        )
    labels = [", ".join(f"{k}={v}" for k, v in (r["slice"] or {}).items()) for r in rows]
    warn = min(r["threshold"] for r in rows if r["threshold"] is not None)
    chart = horizontal_bars(labels, [r["value"] for r in rows], rows[0]["metric"], warn)
    return f"<section><h2>Model gaps per slice</h2>{chart}</section>"


def _recommendation_section(report: dict[str, Any]) -> str:
    """Each recommendation with its note and its config diff."""
    items = []
    for rec in report["recommendations"]:
        lines = diff_lines(rec)
        diff = ""
        if lines:
            diff = (
                "<pre class=diff>"
                + "".join(
                    f'<span class="{"del" if line[0] == "-" else "add"}">{escape(line)}</span>\n'
                    for line in lines
                )
                + "</pre>"
            )
        who = "config change" if rec["automated"] else "for a person"
        items.append(
            f'<article class="rec {rec["severity"]}"><h3>{escape(rec["action"])}: '
            f"{escape(', '.join(rec['columns']) or 'whole table')}</h3>"
            f"<p>{escape(rec['note'])} <em>({who}; {len(rec['gaps'])} gap(s), "
            f"{escape(rec['severity'])})</em></p>{diff}</article>"
        )
    body = "".join(items) or '<p class="empty">nothing to change</p>'
    return f"<section><h2>Recommendations</h2>{body}</section>"


HTML_GAPS = 30


def _gaps_section(report: dict[str, Any]) -> str:
    """The worst gaps (severity, then damage), and how many more the JSON holds."""
    table = table_html(gaps_table(report["gaps"], limit=HTML_GAPS))
    more = len(report["gaps"]) - HTML_GAPS
    note = f'<p class="empty">{more} more gap(s) in the JSON report.</p>' if more > 0 else ""
    return f"<section><h2>Gaps by severity</h2>{table}{note}</section>"


REPORT_STYLE = (
    STYLE
    + """
figure{display:inline-block;margin:0 1rem 1rem 0}figcaption{font-weight:600}
pre.diff{background:#f8f9fb;padding:.5rem;overflow-x:auto;font-size:.8rem}
.del{color:#b42318}.add{color:#067647}.rec{border-left:4px solid #d0d5dd;padding-left:.75rem}
.rec.error{border-color:#d92d20}.rec.warn{border-color:#f79009}h3{font-size:1rem}
"""
)


def report_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no scripts)."""
    sections = [
        _score_section(report),
        _gaps_section(report),
        _marginal_section(report),
        _slice_section(report),
        _recommendation_section(report),
        f"<section><h2>Quality of the compared batches</h2>{table_html(_quality_table(report))}"
        "</section>",
    ]
    title = f"Gap report: loop {report['loop']}"
    return page(title, _facts(report), "".join(sections), REPORT_STYLE)
