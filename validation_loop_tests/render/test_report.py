"""The gap report's HTML: self-contained, offline, with plots; rendered by headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from validation_loop.render.report import report_html, report_markdown

BROWSER_ENV = "VALIDATION_LOOP_REQUIRE_BROWSER"
HEADINGS = (
    "Score and its trend",
    "Gaps by severity",
    "Marginals: human against synthetic",
    "Model gaps per slice",
    "Recommendations",
)


@pytest.fixture(scope="module")
def report(demo_run):
    """The first round's report: the flawed generator, so gaps, plots and config diffs."""
    first = demo_run["rounds"][0].report_html.with_suffix(".json")
    return json.loads(first.read_text(encoding="utf-8"))


def test_html_is_self_contained_with_plots_and_diffs(report) -> None:
    html = report_html(report)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in html
    assert html.count("<svg") >= 2  # the score trend and at least one marginal plot
    assert '<span class="del">- ' in html and '<span class="add">+ ' in html


def test_markdown_summary_has_top_gaps_and_recommendations(report) -> None:
    text = report_markdown(report, limit=5)
    assert text.startswith("# Gap report: loop adult")
    assert "**score**" in text and "## Top gaps" in text and "## Recommendations" in text
    table = text.split("## Top gaps", 1)[1].split("## Recommendations", 1)[0]
    assert table.count("\n| ") <= 6


def _browser() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get(BROWSER_ENV):
        pytest.fail(f"{BROWSER_ENV} is set but no chromium is installed")
    return found


def _png_pixels(path: Path) -> tuple[int, int, set[bytes]]:
    """Width, height and the distinct pixels of an 8-bit RGB/RGBA PNG (no Pillow needed)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks += body
        offset += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(chunks)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        kind, row = line[0], bytearray(line[1:])
        for x in range(stride):
            left = row[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                row[x] = (row[x] + left) & 0xFF
            elif kind == 2:
                row[x] = (row[x] + up) & 0xFF
            elif kind == 3:
                row[x] = (row[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                row[x] = (row[x] + pred) & 0xFF
        rows.append(bytes(row))
        previous = row
    pixels = {
        r[i : i + 3] for r in rows[:: max(1, height // 200)] for i in range(0, stride, channels * 4)
    }
    return width, height, pixels


def test_report_renders_in_headless_chromium(report, tmp_path) -> None:
    browser = _browser()
    if browser is None:
        pytest.skip(f"chromium is not installed (CI installs it and sets {BROWSER_ENV})")
    page = tmp_path / "report.html"
    page.write_text(report_html(report), encoding="utf-8")
    shot = tmp_path / "report.png"
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    subprocess.run(
        [*flags, "--window-size=1000,800", f"--screenshot={shot}", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    width, height, pixels = _png_pixels(shot)
    assert (width, height) == (1000, 800)
    assert len(pixels) > 20, "the screenshot is blank"
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in dom
    assert "<svg" in dom
    artefacts = Path(os.environ.get("VALIDATION_LOOP_ARTEFACTS", tmp_path))
    artefacts.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, artefacts / "gap_report.png")
