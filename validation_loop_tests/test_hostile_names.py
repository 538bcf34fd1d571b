"""Hostile column, value and file names, end to end through the real CLI (issue 12).

Each name is either stored faithfully and shown inertly (loop.yaml, the warehouse, the archive,
the JSON, Markdown and HTML reports, the Dagster metadata the run left in the instance, Slack
and Teams alerts) or rejected with a message that says why. The expected names are the ones the test
plants; the checks parse what the loop wrote (HTML with a tag-balancing parser, Markdown with
markdown-it, the warehouse with DuckDB) instead of searching the renderer's own strings.
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from markdown_it import MarkdownIt

from validation_loop.cli import main
from validation_loop.feedback.generator import OVERALL, fit_config
from validation_loop.feedback.versions import accept, load_config, proposals, save_config
from validation_loop.home import Home
from validation_loop.spec import load_spec
from validation_loop.warehouse import Warehouse
from validation_loop_tests.conftest import landing_tick
from validation_loop_tests.servers import Recorder, with_alerts

LOOP = "hostile"
ID = "it's"  # a single quote (the id column)
LABEL = "a|b"  # a Markdown table's cell separator (the label)
SLICE = "<script>alert(1)</script>"  # HTML (the slice column)
SENSITIVE = "from"  # an SQL keyword (the sensitive attribute)
# Numeric columns, each shifted in the synthetic batch: a planted gap the report must show.
# The report lists a kind's gaps in column order, so the first three lead every alert.
SHIFTED = {
    "HTML with an event handler": "<img src=x onerror=alert(2)>",
    "a Slack mention": "<!channel> @here",
    "a Markdown link": "[click](https://example.com)",
    "double quotes": 'say "hi"',
    "SQL keyword": "select",
    "SQL words with spaces": "drop table x",
    "semicolons and an SQL comment": "a;b; DROP TABLE batches; --",
    "a newline": "line\nbreak",
    "a carriage return": "carriage\rreturn",
    "accents, CJK and emoji": "café 数据 🚀",
    "right-to-left override and mark": "\u202eevil\u200f",
    "leading and trailing spaces": "  padded  ",
    "Markdown emphasis and a backtick fence": "*bold* _it_ ```x",
}
COLUMNS = [ID, *SHIFTED.values(), SLICE, SENSITIVE, LABEL]
SLICE_VALUES = ["<script>alert(3)</script>", "x|y", "c\nd"]
LABEL_VALUES = ["yes|1", "no<2>"]
# File names of 250 characters (a 255-byte name cannot take `.meta.json` or `.error.json`)
HUMAN_FILE = "-rf human ".ljust(242, "h") + ".parquet"  # a leading dash, spaces
SYNTHETIC_FILE = (
    "x ..\\..\\<img src=x onerror=alert(9)>|'; DROP TABLE batches; --\n".ljust(242, "s")
    + ".parquet"
)
REJECTED_FILE = "<script>alert(4) bad|file".ljust(242, "r") + ".parquet"
ROWS = 200


def _batch(seed: int, shift: float, slice_values: list[str]) -> pd.DataFrame:
    """A batch with every hostile column; `shift` moves every numeric column (in its SDs)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({ID: [f"id-{seed}-{i}" for i in range(ROWS)]})
    for position, name in enumerate(SHIFTED.values()):
        frame[name] = rng.normal(10 * position + 10 * shift, 10, ROWS).round(3)
    frame[SLICE] = rng.choice(slice_values, ROWS)
    frame[SENSITIVE] = rng.choice(["yes", "no"], ROWS)
    frame[LABEL] = rng.choice(LABEL_VALUES, ROWS)
    return frame


class Page(HTMLParser):
    """An HTML document's elements and text, checked as it is read: every non-void element is
    closed in order, and the names of elements and attributes are recorded."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "circle", "line", "rect"})

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []
        self.tables: list[list[list[str]]] = []  # per table, per row, its cells' text
        self.feed(html)
        self.close()
        assert self.open == [], f"elements never closed: {self.open}"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)
        if tag == "table":
            self.tables.append([])
        if tag == "tr":
            self.tables[-1].append([])
        if tag in ("td", "th"):
            self.tables[-1][-1].append("")
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.open and self.open[-1] in ("td", "th"):
            self.tables[-1][-1][-1] += data

    def full_text(self) -> str:
        """Every text node, in order."""
        return "".join(self.text)


def _inert(page: Page) -> None:
    """Nothing in the page can run, load or link: no such element, no event handler."""
    active = {"script", "iframe", "object", "embed", "img", "a", "form", "link", "base"}
    assert page.tags.isdisjoint(active), page.tags & active
    assert not [a for a in page.attributes if a.startswith("on") or a in ("src", "href")]


def _markdown(text: str) -> Page:
    """Markdown as a CommonMark + GFM-tables renderer shows it, checked: no raw HTML passed
    through, no link, and every table row has as many cells as its header."""
    parser = MarkdownIt("commonmark").enable("table")
    tokens = parser.parse(text)
    kinds = {t.type for t in tokens} | {c.type for t in tokens for c in t.children or []}
    assert kinds.isdisjoint({"html_inline", "html_block", "link_open", "image"}), kinds
    page = Page(parser.render(text))
    _inert(page)
    for table in page.tables:
        widths = {len(row) for row in table}
        assert len(widths) == 1, f"a table with rows of {widths} cells"
    return page


def _shown(name: str) -> str:
    """A name as Markdown shows it: line breaks as spaces (a row or item stays one line), and,
    as in any table cell or HTML, without leading and trailing spaces."""
    return re.sub(r"[\n\r]", " ", name).strip()


def _gap_columns(page: Page) -> set[str]:
    """The column names in the `columns` cells of a page's gap tables (none has `, `)."""
    found = set()
    for table in page.tables:
        header, *rows = table
        if "columns" in header and "metric" in header:
            at = header.index("columns")
            found |= {name for row in rows for name in row[at].split(", ")}
    return found


def _materialized(instance: dg.DagsterInstance, *key: str) -> list[dict[str, Any]]:
    """The metadata of every materialisation of an asset, as plain values."""
    records = instance.fetch_materializations(dg.AssetKey([LOOP, *key]), limit=50).records
    return [
        {k: v.value for k, v in r.asset_materialization.metadata.items()}
        for r in records
        if r.asset_materialization is not None
    ]


def _fences(text: str) -> list[str]:
    """The contents of the Markdown's fenced code blocks."""
    return [t.content for t in MarkdownIt("commonmark").parse(text) if t.type == "fence"]


def test_hostile_names_are_stored_faithfully_and_shown_inertly(
    env: Path,
    home: Home,
    tmp_path: Path,
    http_server: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """init, ingest the human file (a leading dash, after `--`), write a generator config that
    shifts every numeric column, drop its shifted batch and a bad file in landing, run, then
    read every place the names went (the next config proposal included)."""
    human = _batch(1, 0.0, SLICE_VALUES)
    synthetic = _batch(2, 3.0, SLICE_VALUES[:2])  # shifted, and the category "c\nd" missing
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    human.to_parquet(incoming / HUMAN_FILE)
    init = ["init", LOOP, "--human", str(incoming / HUMAN_FILE), "--label", LABEL, "--id", ID]
    assert main([*init, "--slice", SLICE, "--sensitive", SENSITIVE]) == 0
    layout = home.loop(LOOP)
    spec = load_spec(layout.spec_path)
    assert list(spec.columns) == COLUMNS  # through YAML and back, exactly
    assert (spec.label, spec.id_column, spec.slices, spec.sensitive) == (
        LABEL,
        ID,
        [SLICE],
        [SENSITIVE],
    )
    spec.models.enabled = False  # the model checks are not the point here
    routes = [{"name": kind, "type": kind, "url_env": "HOOK"} for kind in ("slack", "teams")]
    spec = with_alerts(home, spec, routes=routes)
    monkeypatch.setenv("HOOK", http_server.url)

    monkeypatch.chdir(incoming)
    assert main(["ingest", LOOP, "--source", "human", "--", HUMAN_FILE]) == 0
    config = fit_config(human, spec, ROWS)  # a generator that shifts every numeric column
    for name in SHIFTED.values():
        config.columns[name].marginals[OVERALL].shift = 30.0
    save_config(layout, config)
    accept(layout, config.version)
    synthetic.to_parquet(layout.landing("synthetic") / SYNTHETIC_FILE)
    bad = synthetic.head(3).astype({SHIFTED["double quotes"]: str})
    bad.loc[1, SHIFTED["double quotes"]] = "forty"
    bad.to_parquet(layout.landing("synthetic") / REJECTED_FILE)
    capsys.readouterr()
    assert main(["run", LOOP]) == 2  # the bad file is rejected, the rest goes on
    err = capsys.readouterr().err
    assert (
        f"rejected {REJECTED_FILE}: column 'say \"hi\"', row 2: value 'forty' is not numeric"
    ) in err

    # the warehouse: the exact names as columns, the exact values, the exact file names
    with Warehouse(home.warehouse_path).read() as con:
        described = [r[0] for r in con.execute(f"DESCRIBE {LOOP}.human").fetchall()]
        assert [c for c in described if c not in ("_batch_id", "_row")] == COLUMNS
        stored = con.execute(f"SELECT * FROM {LOOP}.human ORDER BY _row").df()
        files = con.execute(
            "SELECT file_name, batch_id, source FROM batches WHERE loop = ?", [LOOP]
        ).fetchall()
        rejected = con.execute(
            "SELECT file_name, column_name, kind, quarantined_as FROM rejections WHERE loop = ?",
            [LOOP],
        ).fetchall()
    expected = human.assign(**{SENSITIVE: human[SENSITIVE] == "yes"})  # a boolean column
    pd.testing.assert_frame_equal(stored[COLUMNS], expected, check_dtype=False)
    names = {name: (batch_id, source) for name, batch_id, source in files}
    assert {HUMAN_FILE, SYNTHETIC_FILE} <= set(names)
    ((*rejection, kept_as),) = rejected
    assert rejection == [REJECTED_FILE, SHIFTED["double quotes"], "bad_value"]
    for name, (batch_id, source) in names.items():
        assert (layout.archive / source / batch_id / name).is_file()
    assert (incoming / HUMAN_FILE).is_file()  # a file from outside the loop is copied
    assert (layout.quarantine / kept_as).is_file()  # a name shortened to fit `.error.json`
    kept = json.loads((layout.quarantine / f"{kept_as}.error.json").read_text())
    assert (kept["file"], kept["error"]["column"]) == (REJECTED_FILE, SHIFTED["double quotes"])

    # the JSON report: every planted gap, under its exact column name
    assert main(["report", LOOP, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    gapped = {c for r in report["gaps"] if r["kind"] == "marginal" for c in r["columns"]}
    assert gapped >= set(SHIFTED.values())
    assert any(r["slice"] == {SLICE: "c\nd"} for r in report["gaps"])  # the missing slice

    # the HTML report: it parses, nothing in it can run, and its text shows every name
    html = tmp_path / "report.html"
    assert main(["report", LOOP, "--format", "html", "--output", str(html)]) == 0
    page = Page(html.read_bytes().decode("utf-8"))  # as written, carriage returns too
    _inert(page)
    assert [n for n in [*SHIFTED.values(), SLICE] if n not in page.full_text()] == []

    # the Markdown report: no raw HTML, no link, tables unbroken, every name shown; the config
    # diffs stay inside their fences
    capsys.readouterr()
    assert main(["report", LOOP, "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert [n for n in SHIFTED.values() if _shown(n) not in _markdown(markdown).full_text()] == []
    diffs = [line for fence in _fences(markdown) for line in fence.splitlines()]
    assert diffs and all(line.startswith(("- ", "+ ")) for line in diffs)
    assert any('"line\\nbreak"' in line for line in diffs)

    # the Dagster metadata the runs left in the instance
    with dg.DagsterInstance.from_config(str(env)) as instance:
        batches = _materialized(instance, "batches")
        inventory = _materialized(instance, "inventory")
        gaps = _materialized(instance, "gaps")
        reports = _materialized(instance, "gap_report")
        configs = _materialized(instance, "generator_config")
    assert {HUMAN_FILE, SYNTHETIC_FILE} <= {m["file"] for m in batches}
    for metadata in batches:
        preview = _markdown(metadata["preview"])
        assert preview.tables[0][0][: len(COLUMNS)] == [_shown(c) for c in COLUMNS]
    summary = _markdown(inventory[0]["summary"]).full_text()
    assert all(_shown(f) in summary for f in (HUMAN_FILE, SYNTHETIC_FILE, REJECTED_FILE))
    for table in (gaps[0]["gaps"], reports[0]["summary"], reports[0]["top_gaps"]):
        shown = _gap_columns(_markdown(table))
        assert shown and shown <= {_shown(c) for c in COLUMNS}
    (diff,) = _fences(configs[0]["diff"])
    assert all(line.startswith(("- ", "+ ")) for line in diff.splitlines())
    (proposal,) = proposals(layout)  # the next config, keyed by the same names
    proposed = load_config(layout, proposal)
    assert list(proposed.columns) == list(config.columns)
    changed = {c.path[1] for c in proposed.changelog if c.path[:1] == ["columns"]}
    assert changed >= set(SHIFTED.values())

    # the alerts: each gap one line whose columns, as Slack and Teams show them, are planted
    # names (line breaks as `\\n`); in Slack no `<` of its own (Slack's links and mentions), in
    # Teams no `](` (a Markdown link)
    alerts = [json.loads(r["body"]) for r in http_server.requests if b"gap(s)" in r["body"]]
    (slack,) = [a for a in alerts if "blocks" in a]
    (teams,) = [a for a in alerts if "attachments" in a]
    one_line = {c.replace("\n", "\\n").replace("\r", "\\r") for c in COLUMNS}
    lines = [b["text"] for b in teams["attachments"][0]["content"]["body"]]
    assert not [line for line in lines if "](" in line]
    items = [
        m.group(1)
        for line in lines
        for m in re.finditer(r"^\[ERROR\] new: \w+ \w+ on (.+): ", line)
    ]
    assert len(items) == spec.alerts.max_gaps and any("]\u200b(" in item for item in items)
    assert all(set(i.replace("\u200b", "").split(", ")) <= one_line for i in items)
    sections = [b["text"]["text"] for b in slack["blocks"] if b["type"] == "section"]
    assert all("<" not in t and ">" not in t for t in [slack["text"], *sections])
    items = [
        m.group(1) for m in re.finditer(r"^• \[ERROR\] new: \w+ \w+ on (.+): ", sections[1], re.M)
    ]
    assert len(items) == spec.alerts.max_gaps
    for item in items:
        names = item.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        assert set(names.split(", ")) <= one_line, item
    assert any("&lt;" in item for item in items)  # names with `<` among them, escaped


@pytest.mark.parametrize("name", ["../escape", "Upper", "a b", "x;rm -rf", "\u0430dult", ""])
def test_a_hostile_loop_name_is_refused_before_anything(env, tmp_path, name, capsys) -> None:
    """`../escape`, capitals, spaces, shell syntax, a Cyrillic look-alike, nothing: exit 2,
    the rule in the message, nothing written (the other commands: test_cli.py)."""
    source = tmp_path / "first.parquet"
    _batch(1, 0.0, SLICE_VALUES).to_parquet(source)
    before = sorted(tmp_path.rglob("*"))
    assert main(["init", name, "--human", str(source), "--label", LABEL]) == 2
    assert f"invalid loop name {name!r}: a loop name is a lower-case letter" in (
        capsys.readouterr().err
    )
    assert sorted(tmp_path.rglob("*")) == before


def _write(frame: pd.DataFrame, path: Path) -> Path:
    """The frame as CSV (RFC 4180 quoting), JSON Lines or Parquet, by the path's suffix."""
    if path.suffix == ".csv":  # quoting every text: pandas' minimal quoting leaves a CR bare
        frame.to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_every_format_keeps_hostile_column_names_and_their_values(
    env, home, tmp_path, suffix, capsys
) -> None:
    """`init` reads the names and infers each column's type from its values: a numeric column
    whose values were lost would come back categorical."""
    path = _write(_batch(1, 0.0, SLICE_VALUES), tmp_path / f"first{suffix}")
    assert main(["init", LOOP, "--human", str(path), "--label", LABEL, "--id", ID]) == 0, (
        capsys.readouterr().err
    )
    spec = load_spec(home.loop(LOOP).spec_path)
    assert list(spec.columns) == COLUMNS
    assert {name: spec.columns[name].value for name in SHIFTED.values()} == dict.fromkeys(
        SHIFTED.values(), "numeric"
    )


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_names_differing_only_in_case_are_rejected_with_a_reason(env, tmp_path, suffix, capsys):
    """DuckDB's identifiers ignore case, so `a` and `A` cannot both be columns: rejected,
    naming both, rather than one renamed."""
    frame = pd.DataFrame({"a": [1.0, 2.0], "A": [3.0, 4.0], "label": ["x", "y"]})
    path = _write(frame, tmp_path / f"first{suffix}")
    assert main(["init", LOOP, "--human", str(path), "--label", "label"]) == 2
    err = capsys.readouterr().err
    assert "'a'" in err and "'A'" in err and "case" in err


def test_data_docs_show_hostile_column_names_inertly(env, home, tmp_path) -> None:
    """The batch's Data Docs page (linked from its Dagster metadata) holds no element from a
    column name."""
    frame = pd.DataFrame({SLICE: ["a", "b"] * 10, LABEL: ["x", "y"] * 10})
    path = _write(frame, tmp_path / "first.parquet")
    assert main(["init", LOOP, "--human", str(path), "--label", LABEL]) == 0
    assert main(["ingest", LOOP, "--source", "human", str(path)]) == 0
    site = home.loop(LOOP).root / "gx" / "uncommitted" / "data_docs" / "local_site"
    pages = [p for p in site.rglob("*.html") if "/static/" not in str(p)]
    assert len(pages) >= 2  # the suite and the validation
    assert [p.name for p in pages if SLICE in p.read_text(encoding="utf-8")] == []


def test_the_landing_sensor_requests_hostile_file_names_exactly(home, spec, write_batch) -> None:
    """A tick asks for one ingest run per file, with its exact path; the cursor keeps every
    name, so the next tick asks for nothing."""
    names = [HUMAN_FILE.replace(".parquet", ".csv"), SYNTHETIC_FILE, REJECTED_FILE]
    paths = [write_batch(n, folder=home.loop("churn").landing("human")) for n in names]
    past = time.time() - 60
    for path in paths:
        os.utime(path, (past, past))
    with dg.instance_for_test() as instance:
        first = landing_tick(home, instance)
        requested = [
            r.run_config["ops"]["churn__batches"]["config"]["file"] for r in first.run_requests
        ]
        assert sorted(requested) == sorted(str(p) for p in paths)
        assert landing_tick(home, instance, first.cursor).run_requests == []
